"""Cost of FDR + GO-LSD on mmdet's DETRs: training step and inference, CPU.

Example::

    python tools/analysis_tools/benchmark_fdr_overhead.py
    python tools/analysis_tools/benchmark_fdr_overhead.py \
        --detector deformable_detr

Plain DINO (``mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py``) against
DINO + FDR + GO-LSD (``configs/dino_fdr/dino-fdr-golsd_...``), or plain
Deformable-DETR with box refinement and two stages against its FDR + GO-LSD
config (``configs/deformable_detr_fdr/``), the same
backbone (``--depth``, default 50, no pretrained weights), the same fixed
images (``--batch`` x ``--size``) and targets (``--boxes`` per image). A
training step is forward + losses + backward (train mode, denoising on);
inference is ``predict`` on one image. Times are medians of ``--runs``
training steps and ``--predict-runs`` predictions (default 20: one
image's prediction is cheap and its 2 % goal needs more rounds to resolve)
after ``--warmup``, the two models taking turns run by run in one process;
predict's ratio is also given as the median of the rounds' ratios (each
round pairs two runs made one right after the other);
the memory is how far the resident set peaks above its size before the
training steps (``PeakMemoryGrowth``), each model alone in a fresh process
so that the peaks do not mix. Ratios FDR / plain are printed.
"""

import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAIRS = dict(
    dino=(
        'DINO',
        'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
        osp.join(
            ROOT, 'configs', 'dino_fdr',
            'dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py',
        ),
    ),
    deformable_detr=(
        'Deformable-DETR',
        'mmdet::deformable_detr/'
        'deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
        osp.join(
            ROOT, 'configs', 'deformable_detr_fdr',
            'deformable-detr-fdr-golsd-refine-twostage_r50_16xb2-50e_coco.py',
        ),
    ),
)  # fmt: skip
ARMS = ('plain', 'fdr')  # each pair's two models


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--detector', choices=sorted(PAIRS), default='dino')
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--boxes', type=int, default=6)
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--predict-runs', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--worker', choices=ARMS, help='internal')
    return parser.parse_args(argv)


def _inputs(args):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    height, width = args.size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.batch, 3, height, width, generator=gen)
    samples = []
    for _ in range(args.batch):
        meta = dict(
            img_shape=(height, width),
            pad_shape=(height, width),
            batch_input_shape=(height, width),
            ori_shape=(height, width),
            scale_factor=(1.0, 1.0),
        )
        sample = DetDataSample(metainfo=meta)
        xy = torch.rand(args.boxes, 2, generator=gen) * height * 0.6
        wh = torch.rand(args.boxes, 2, generator=gen) * height * 0.3 + 8
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, 80, (args.boxes,), generator=gen),
        )
        samples.append(sample)
    return images, samples


def build(args, which: str):
    """Build the ``which`` ('plain' or 'fdr') model of the pair (seed 0).

    Returns:
        tuple: ``(step, predict)``, functions of no arguments: a training
        step (forward + losses + backward) and ``predict`` on one image.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.hub import get_config

    import dfine_mm  # noqa: F401

    register_all_modules()
    _, plain_cfg, fdr_cfg = PAIRS[args.detector]
    path = fdr_cfg if which == 'fdr' else plain_cfg
    cfg = get_config(path) if '::' in path else Config.fromfile(path)
    cfg.model.backbone.update(depth=args.depth, init_cfg=None)
    if args.depth < 50:
        cfg.model.neck.in_channels = [128, 256, 512]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    images, samples = _inputs(args)

    def step():
        model.train()
        losses = model.loss(images, samples)
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        model.zero_grad(set_to_none=True)

    def predict():
        model.eval()
        model.predict(images[:1], samples[:1])

    return step, predict


def measure_memory(args) -> float:
    """Peak-RSS growth (MiB) over the training steps of ``args.worker``'s
    model, alone in this process."""
    from dfine_mm.testing import PeakMemoryGrowth

    torch.set_num_threads(args.threads)
    step, _ = build(args, args.worker)
    with PeakMemoryGrowth() as memory:
        for _ in range(args.warmup + args.runs):
            step()
    return memory.mib


def compare(args) -> dict:
    """Memory: each model in a fresh process. Times: both models in this
    process, taking turns run by run (machine noise hits both alike).

    Returns:
        dict: ``{'plain': ..., 'fdr': ...}``, each a dict of ``train`` and
        ``predict`` (median seconds) and ``memory`` (MiB), and
        ``predict_paired_ratio`` (the median of the rounds' FDR / plain
        ratios).
    """
    from dfine_mm.testing import (
        alternating_medians,
        alternating_times,
        medians,
        paired_ratios,
    )

    results = {}
    for which in ARMS:
        command = [sys.executable, __file__, '--worker', which]
        for key in (
            'detector',
            'size',
            'batch',
            'boxes',
            'depth',
            'threads',
            'runs',
            'warmup',
        ):
            value = getattr(args, key)
            values = value if isinstance(value, (list, tuple)) else [value]
            command += [f'--{key}', *map(str, values)]
        out = subprocess.run(
            command, check=True, capture_output=True, text=True
        ).stdout
        memory = json.loads(out.strip().splitlines()[-1])['memory']
        results[which] = dict(memory=memory)
    torch.set_num_threads(args.threads)
    models = {which: build(args, which) for which in ARMS}
    train = alternating_medians(
        {which: fns[0] for which, fns in models.items()},
        args.warmup,
        args.runs,
        inference=False,
    )
    predict_times = alternating_times(
        {which: fns[1] for which, fns in models.items()},
        args.warmup,
        args.predict_runs,
    )
    predict = medians(predict_times)
    results['predict_paired_ratio'] = statistics.median(
        paired_ratios(predict_times, 'fdr', 'plain')
    )
    for which in ARMS:
        results[which].update(
            train=train[which] / 1000, predict=predict[which] / 1000
        )
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(dict(memory=measure_memory(args))))
        return 0
    results = compare(args)
    plain, fdr = results['plain'], results['fdr']
    name = PAIRS[args.detector][0]
    lines = [
        f'{name} R-{args.depth}, batch {args.batch}, {args.size[0]}x'
        f'{args.size[1]}, {args.boxes} boxes per image, {args.threads} '
        f'threads, median of {args.runs} (train) and {args.predict_runs} '
        f'(predict) after {args.warmup}',
    ]
    for label, key, unit, scale in (
        ('train step', 'train', 'ms', 1000),
        ('train peak memory growth', 'memory', 'MiB', 1),
        ('predict (1 image)', 'predict', 'ms', 1000),
    ):
        lines.append(
            f'  {label:26s} {name} {plain[key] * scale:8.0f} {unit}   '
            f'{name}+FDR+GO-LSD {fdr[key] * scale:8.0f} {unit}   '
            f'ratio {fdr[key] / plain[key]:.3f}'
        )
    lines[-1] += (
        f' (median of the {args.predict_runs} paired rounds: '
        f'{results["predict_paired_ratio"]:.3f})'
    )
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
