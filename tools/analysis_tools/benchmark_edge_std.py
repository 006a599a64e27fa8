"""What ``edge_std`` (per-edge localisation uncertainty) costs at inference.

Example::

    python tools/analysis_tools/benchmark_edge_std.py \\
        configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py

Times ``model.predict`` (network + post-processing, batch 1, 640x640,
``--threads`` CPU threads, eval mode, no gradients) with ``edge_std`` and
with the head's ``edge_std`` step skipped, taking turns run by run in one
process; prints both medians, the median of the per-round ratios, and the
edge_std step timed alone (its share of predict: the robust number on a
busy machine).
"""

import argparse

import torch
from mmengine.config import Config
from mmengine.logging import print_log


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=3)
    args = parser.parse_args(argv)
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules

    from dfine_mm.testing.timing import (
        alternating_times,
        medians,
        paired_ratios,
    )

    torch.set_num_threads(args.threads)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    size = args.size
    images = torch.rand(1, 3, size, size)
    meta = dict(
        img_shape=(size, size),
        ori_shape=(size, size),
        scale_factor=(1.0, 1.0),
        batch_input_shape=(size, size),
    )
    samples = [DetDataSample(metainfo=meta)]  # fmt: skip
    head = model.bbox_head
    with_std = head._add_edge_std

    def predict(keep_std: bool):
        head._add_edge_std = with_std if keep_std else lambda *a: None
        with torch.no_grad():
            return model.predict(images, samples)

    captured = []

    def capture(*args):
        captured.append(args)
        return with_std(*args)

    head._add_edge_std = capture
    with torch.no_grad():
        model.predict(images, samples)
    step_times = alternating_times(
        dict(step=lambda: with_std(*captured[0])), warmup=args.warmup,
        runs=args.runs * 10,
    )  # fmt: skip
    for enabled in (True, False):  # the two arms differ as intended
        if ('edge_std' in predict(enabled)[0].pred_instances) != enabled:
            raise RuntimeError(
                f'predict(keep_std={enabled}) did not switch the edge_std '
                'output; this benchmark would compare the same thing twice'
            )
    times = alternating_times(
        dict(with_edge_std=lambda: predict(True),
             without=lambda: predict(False)),
        warmup=args.warmup, runs=args.runs,
    )  # fmt: skip
    med = medians(times)
    ratio = sorted(paired_ratios(times, 'with_edge_std', 'without'))
    print_log(
        f'{args.config}: predict {med["with_edge_std"]:.1f} ms with '
        f'edge_std, {med["without"]:.1f} ms without; per-round ratio '
        f'median {ratio[len(ratio) // 2]:.4f} '
        f'(quartiles {ratio[len(ratio) // 4]:.4f}-'
        f'{ratio[3 * len(ratio) // 4]:.4f}); the edge_std step alone '
        f'{medians(step_times)["step"]:.2f} ms = '
        f'{100 * medians(step_times)["step"] / med["without"]:.2f}% of '
        'predict',
        logger='current',
    )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
