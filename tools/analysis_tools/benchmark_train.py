"""CPU training-step time and peak memory of a D-FINE config, side by side
with transformers' D-FINE and its loss.

Example::

    python tools/analysis_tools/benchmark_train.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --compare-transformers

Batch 2 (``--batch``), 640x640 (``--size``), ``--threads`` CPU threads,
fixed random images and targets (``--boxes`` per image), train mode with
denoising. One step = forward + losses + backward. The time is the median
of ``--runs`` steps after ``--warmup``; the peak memory is how far the
resident set peaks above its size before those steps (each
implementation runs in its own fresh process, one after the other, so
the peaks do not mix). With
``--compare-transformers`` both models have the same weights (transformers'
random initialisation, perturbed, converted into dfine_mm) and the ratios
dfine_mm / transformers are printed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        '--compare-transformers',
        action='store_true',
        help="also measure transformers' DFineForObjectDetection + loss",
    )
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--boxes', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--worker',
        choices=['dfine_mm', 'transformers'],
        help=argparse.SUPPRESS,  # internal: measure one implementation
    )
    return parser.parse_args(argv)


def fixed_targets(args):
    """Images in [0, 1] and per-image boxes (cxcywh normalised), labels."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(
        args.batch, 3, args.size, args.size, generator=generator
    )
    targets = []
    for _ in range(args.batch):
        centre = torch.rand(args.boxes, 2, generator=generator) * 0.6 + 0.2
        size = torch.rand(args.boxes, 2, generator=generator) * 0.3 + 0.05
        labels = torch.randint(0, 80, (args.boxes,), generator=generator)
        targets.append((torch.cat([centre, size], 1), labels))
    return images, targets


def build(args):
    """dfine_mm's model and transformers' with the same weights."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import dfine_mm  # noqa: F401
    from dfine_mm.converters.dfine import (
        convert_dfine_state_dict,
        detect_variant,
    )
    from dfine_mm.testing import build_transformers_dfine, perturb_

    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    torch.manual_seed(0)
    reference = build_transformers_dfine(
        detect_variant(model.state_dict()),
        num_labels=cfg.model.bbox_head.num_classes,
    )
    perturb_(reference, scale=0.05)
    state_dict, _ = convert_dfine_state_dict(reference.state_dict())
    model.load_state_dict(state_dict, strict=True)
    return model.train(), reference.train()


def step_fn(args, which):
    """A closure running one forward + loss + backward."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
    from mmengine.structures import InstanceData

    model, reference = build(args)
    images, targets = fixed_targets(args)
    if which == 'transformers':
        labels = [dict(class_labels=c, boxes=b) for b, c in targets]

        def step():
            reference.zero_grad(set_to_none=True)
            reference(pixel_values=images, labels=labels).loss.backward()

        return step
    scale = torch.tensor([args.size] * 4, dtype=torch.float32)
    samples = []
    for boxes, classes in targets:
        shape = (args.size, args.size)
        sample = DetDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape)
        )
        sample.gt_instances = InstanceData(
            bboxes=bbox_cxcywh_to_xyxy(boxes) * scale, labels=classes
        )
        samples.append(sample)

    def step():
        model.zero_grad(set_to_none=True)
        losses = model.loss(images, samples)
        sum(losses.values()).backward()

    return step


def measure(args, which):
    """Median step time (s) and peak-RSS growth (MiB) in this process."""
    from dfine_mm.testing import PeakMemoryGrowth

    torch.set_num_threads(args.threads)
    step = step_fn(args, which)
    times = []
    with PeakMemoryGrowth() as memory:
        for _ in range(args.warmup):
            step()
        for _ in range(args.runs):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return dict(time=statistics.median(times), memory=memory.mib)


def run_worker(args, which):
    command = [sys.executable, os.path.abspath(__file__), args.config]
    for name in ('batch', 'size', 'boxes', 'threads', 'runs', 'warmup'):
        command += [f'--{name}', str(getattr(args, name))]
    command += ['--worker', which]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args, args.worker)))
        return None
    from mmengine.logging import print_log

    names = ['dfine_mm'] + (
        ['transformers'] if args.compare_transformers else []
    )
    results = {name: run_worker(args, name) for name in names}
    header = (
        f'{os.path.basename(args.config)}: training step (forward + loss + '
        f'backward), batch {args.batch}, {args.size}x{args.size}, '
        f'{args.threads} threads, median of {args.runs}'
    )
    lines = [header]
    for name, result in results.items():
        lines.append(
            f'  {name:13s} {result["time"] * 1000:8.0f} ms   peak memory '
            f'+{result["memory"]:7.0f} MiB'
        )
    if args.compare_transformers:
        ours, theirs = results['dfine_mm'], results['transformers']
        lines.append(
            f'  ratio (dfine_mm / transformers): time '
            f'{ours["time"] / theirs["time"]:.2f}x, memory '
            f'{ours["memory"] / theirs["memory"]:.2f}x'
        )
    print_log('\n'.join(lines), logger='current')
    return results


if __name__ == '__main__':
    main()
