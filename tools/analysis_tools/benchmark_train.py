"""Training-step time and peak memory of a D-FINE config, side by side
with transformers' D-FINE and its loss or with the original D-FINE code.

Examples::

    python tools/analysis_tools/benchmark_train.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --compare-transformers
    # the original: a checkout of Peterande/D-FINE
    python tools/analysis_tools/benchmark_train.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --compare-official ../D-FINE --device cuda --amp --batch 8

Batch 2 (``--batch``), 640x640 (``--size``), ``--threads`` CPU threads,
fixed random images and targets (``--boxes`` per image), train mode with
denoising. One step = forward + losses + backward. The time is the median
of ``--runs`` steps after ``--warmup`` (on CUDA: waiting for each step's
kernels); the peak memory is how far the resident set (on CUDA: the memory
PyTorch allocated on the device) peaks above its size before those steps
(each implementation runs in its own fresh process, one after the other,
so the peaks do not mix). With ``--compare-transformers`` both models
have the same weights (transformers' random initialisation, perturbed,
converted into dfine_mm) and the ratios dfine_mm / transformers are
printed. ``--compare-official PATH`` does the same with the original
D-FINE model and criterion (``DFINE`` + ``DFINECriterion`` built from the
variant's YAML files in the checkout at PATH, see
:mod:`dfine_mm.testing.official_dfine`); with ``--amp`` its model runs
under autocast and its criterion in fp32, as its training loop does.

``--profile`` splits dfine_mm's step into data preprocessing, backbone,
neck (hybrid encoder), decoder (query selection, decoder layers), matching
(the GO-LSD loss's Hungarian matchings), other losses, backward and an AdamW
step: exclusive wall times as shares of the step, summed over ``--runs``
steps, synchronised at each boundary on CUDA (data loading and the pipeline
are not part of it: the inputs are fixed). ``--device cuda`` runs on the
GPU (``--amp``: fp16 autocast); ``--channels-last``: dfine_mm's convolutions
in channels-last memory format (``DFineChannelsLastHook``, as in training).
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

import torch

#: profiled sections of one training step, in report order
SECTIONS = ('data', 'backbone', 'neck', 'decoder', 'matching', 'losses',
            'backward', 'optimizer')  # fmt: skip


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument(
        '--compare-transformers', action='store_true',
        help="also measure transformers' DFineForObjectDetection + loss",
    )  # fmt: skip
    reference.add_argument(
        '--compare-official', metavar='PATH',
        help='also measure the original D-FINE model + criterion from a '
        'checkout of Peterande/D-FINE at PATH')  # fmt: skip
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--boxes', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--profile', action='store_true',
        help="dfine_mm's step by section, as shares of the step",
    )  # fmt: skip
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--amp', action='store_true', help='fp16 autocast')
    parser.add_argument(
        '--channels-last', action='store_true',
        help="dfine_mm's backbone and neck convolutions in channels-last "
        'memory format (DFineChannelsLastHook)',
    )  # fmt: skip
    parser.add_argument(  # internal: measure one implementation
        '--worker', choices=['dfine_mm', 'transformers', 'official'],
        help=argparse.SUPPRESS)  # fmt: skip
    return parser.parse_args(argv)


def fixed_targets(args):
    """Images in [0, 1] and per-image boxes (cxcywh normalised), labels."""
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, 3, args.size, args.size)
    images = torch.rand(shape, generator=generator)
    targets = []
    for _ in range(args.batch):
        centre = torch.rand(args.boxes, 2, generator=generator) * 0.6 + 0.2
        size = torch.rand(args.boxes, 2, generator=generator) * 0.3 + 0.05
        labels = torch.randint(0, 80, (args.boxes,), generator=generator)
        targets.append((torch.cat([centre, size], 1), labels))
    return images, targets


def build(args):
    """dfine_mm's model and the reference's (transformers' or, with
    ``--compare-official``, the original's) with the same weights, and the
    original's criterion (None for transformers, whose model computes its
    loss)."""
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
    variant = detect_variant(model.state_dict())
    num_classes = cfg.model.bbox_head.num_classes
    torch.manual_seed(0)
    criterion = None
    if args.compare_official:
        from dfine_mm.testing.official_dfine import build_official_dfine

        reference, criterion = build_official_dfine(
            args.compare_official, variant, num_classes
        )
    else:
        reference = build_transformers_dfine(variant, num_labels=num_classes)
    perturb_(reference, scale=0.05)
    state_dict, _ = convert_dfine_state_dict(reference.state_dict())
    model.load_state_dict(state_dict, strict=True)
    if args.channels_last:
        from types import SimpleNamespace

        from dfine_mm.engine.hooks import DFineChannelsLastHook

        DFineChannelsLastHook().before_run(SimpleNamespace(model=model))
    return (model.to(args.device).train(),
            reference.to(args.device).train(), criterion)  # fmt: skip


def _autocast(args):
    if not args.amp:
        return contextlib.nullcontext()
    return torch.autocast(args.device.split(':')[0], dtype=torch.float16)


def step_fn(args, which, timer=None):
    """A closure running one forward + loss + backward (with ``timer``, a
    :class:`SectionTimer`, also the optimizer step, every section timed)."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
    from mmengine.structures import InstanceData

    model, reference, criterion = build(args)
    images, targets = fixed_targets(args)
    images = images.to(args.device)
    targets = [(b.to(args.device), c.to(args.device)) for b, c in targets]
    if which == 'official':
        official_targets = [dict(labels=c, boxes=b) for b, c in targets]
        device_type = args.device.split(':')[0]

        def step():
            reference.zero_grad(set_to_none=True)
            with _autocast(args):
                outputs = reference(images, targets=official_targets)
            with torch.autocast(device_type, enabled=False):
                losses = criterion(outputs, official_targets)
            sum(losses.values()).backward()

        return step
    if which == 'transformers':
        labels = [dict(class_labels=c, boxes=b) for b, c in targets]

        def step():
            reference.zero_grad(set_to_none=True)
            with _autocast(args):
                loss = reference(pixel_values=images, labels=labels).loss
            loss.backward()

        return step
    scale = torch.tensor([args.size] * 4, dtype=torch.float32)
    scale = scale.to(args.device)
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

    if timer is not None:
        step = profiled_step(model, images, samples, timer, args)
    else:

        def step():
            model.zero_grad(set_to_none=True)
            with _autocast(args):
                losses = model.loss(images, samples)
            sum(losses.values()).backward()

    # the memory format the convolutions train in, read from the model
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    step.channels_last = all(
        m.weight.is_contiguous(memory_format=torch.channels_last)
        for m in convs
    )
    return step


class SectionTimer:
    """Exclusive wall time of named, possibly nested, sections."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')
        self.totals = defaultdict(float)  # exclusive
        self.inclusive = defaultdict(float)
        self._stack = []

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def section(self, name: str):
        self._sync()
        start = time.perf_counter()
        self._stack.append(0.0)
        try:
            yield
        finally:
            self._sync()
            elapsed = time.perf_counter() - start
            nested = self._stack.pop()
            self.totals[name] += elapsed - nested
            self.inclusive[name] += elapsed
            if self._stack:
                self._stack[-1] += elapsed

    def wrap(self, owner, attribute: str, name: str) -> None:
        """Time every call of ``owner.attribute`` as section ``name``."""
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.section(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


def profiled_step(model, images, samples, timer, args):
    """One step with every section of :data:`SECTIONS` timed."""
    timer.wrap(model.backbone, 'forward', 'backbone')
    timer.wrap(model.neck, 'forward', 'neck')
    timer.wrap(model, 'forward_transformer', 'decoder')
    timer.wrap(model.bbox_head, 'loss', 'losses')
    from dfine_mm.models.losses import go_lsd_loss

    # every Hungarian matching of the GO-LSD loss (batched per output)
    timer.wrap(go_lsd_loss, 'hungarian_match', 'matching')
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    raw = (images * 255).round()
    # a fixed input size, as the plain step has (no multi-scale draws)
    model.data_preprocessor.batch_augments = None

    def step():
        with timer.section('step'):
            optimizer.zero_grad(set_to_none=True)
            with timer.section('data'):
                batch = model.data_preprocessor(
                    dict(inputs=list(raw), data_samples=samples), True
                )
            with _autocast(args):
                losses = model.loss(batch['inputs'], batch['data_samples'])
            with timer.section('backward'):
                sum(losses.values()).backward()
            with timer.section('optimizer'):
                optimizer.step()

    return step


def measure(args, which):
    """Median step time (s) and peak-RSS growth (MiB) in this process
    (with ``--profile``, dfine_mm's shares of the step by section)."""
    from dfine_mm.testing import CudaPeakMemoryGrowth, PeakMemoryGrowth

    torch.set_num_threads(args.threads)
    if args.profile and which == 'dfine_mm':
        timer = SectionTimer(args.device)
        step = step_fn(args, which, timer)
        for _ in range(args.warmup):
            step()
        timer.totals.clear()
        timer.inclusive.clear()
        for _ in range(args.runs):
            step()
        total = timer.inclusive['step']
        shares = {name: timer.totals.get(name, 0.0) / total
                  for name in SECTIONS}  # fmt: skip
        shares['other'] = 1.0 - sum(shares.values())
        return dict(time=total / args.runs, memory=float('nan'),
                    shares=shares,
                    channels_last=step.channels_last)  # fmt: skip
    step = step_fn(args, which)
    cuda = args.device.startswith('cuda')
    times = []
    memory = CudaPeakMemoryGrowth(args.device) if cuda else PeakMemoryGrowth()
    with memory:
        for _ in range(args.warmup):
            step()
        for _ in range(args.runs):
            if cuda:
                torch.cuda.synchronize(args.device)
            start = time.perf_counter()
            step()
            if cuda:  # the kernels the step queued
                torch.cuda.synchronize(args.device)
            times.append(time.perf_counter() - start)
    layout = getattr(step, 'channels_last', None)  # dfine_mm's only
    return dict(time=statistics.median(times), memory=memory.mib,
                channels_last=layout)  # fmt: skip


def run_worker(args, which):
    command = [sys.executable, os.path.abspath(__file__), args.config]
    for name in ('batch', 'size', 'boxes', 'threads', 'runs', 'warmup',
                 'device'):  # fmt: skip
        command += [f'--{name}', str(getattr(args, name))]
    if args.compare_official:
        command += ['--compare-official', args.compare_official]
    command += ['--worker', which]
    command += [f'--{f.replace("_", "-")}'
                for f in ('profile', 'amp', 'channels_last')
                if getattr(args, f)]  # fmt: skip
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

    reference = ('transformers' if args.compare_transformers else
                 'official' if args.compare_official else None)  # fmt: skip
    names = ['dfine_mm'] + ([reference] if reference else [])
    results = {name: run_worker(args, name) for name in names}
    lines = [
        f'{os.path.basename(args.config)}: training step (forward + loss + '
        f'backward), batch {args.batch}, {args.size}x{args.size}, '
        f'{args.device}{" amp" if args.amp else ""}'
        f'{", dfine_mm channels-last" if args.channels_last else ""}, '
        f'{args.threads} threads, median of {args.runs}'
    ]
    for name, result in results.items():
        if 'shares' in result:
            lines.append(
                f'  {name:13s} {result["time"] * 1000:8.0f} ms per step, '
                'with the optimizer step (profiled), shares:'
            )
            lines += [
                f'    {section:10s} {share * 100:5.1f}%'
                for section, share in result['shares'].items()
            ]
            continue
        lines.append(
            f'  {name:13s} {result["time"] * 1000:8.0f} ms   peak memory '
            f'+{result["memory"]:7.0f} MiB'
        )
    if reference and not args.profile:
        ours, theirs = results['dfine_mm'], results[reference]
        lines.append(
            f'  ratio (dfine_mm / {reference}): time '
            f'{ours["time"] / theirs["time"]:.2f}x, memory '
            f'{ours["memory"] / theirs["memory"]:.2f}x'
        )
    print_log('\n'.join(lines), logger='current')
    return results


if __name__ == '__main__':
    main()
