"""ONNX Runtime against PyTorch (deploy mode) on the CPU, in one run.

Example::

    python tools/analysis_tools/benchmark_deploy.py \\
        configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py \\
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py

For each model config: export with ``--deploy-cfg`` (default: ONNX Runtime,
static), then time ONNX Runtime and the PyTorch model that mmdeploy exports
(after ``switch_to_deploy()``), both with ``--threads`` intra-op threads
(default 2), batch 1, ``--size`` (default 640x640). Both timings cover the
whole network including the top-K post-processing.

The two take turns run by run (``--runs`` rounds, default 60, after
``--warmup`` untimed ones, default 3), so that slow spells of the machine
hit both alike; the report gives the median of each, their ratio, and the
median and quartiles of the per-round ratios (each a pair of runs made
within a fraction of a second). ONNX Runtime's threads do not spin-wait
between runs (they would take the cores from PyTorch's run that follows;
``--spinning`` turns its default back on, best with ``--block 5 --settle
1``: turns of 5 timed runs after 1 untimed). glibc's malloc is set to keep
freed memory (:func:`dfine_mm.testing.keep_freed_memory`) so that
PyTorch's activations do not page-fault anew in every run, which costs it
up to a quarter of its time depending on the process's earlier
allocations; ``--default-malloc`` leaves malloc as it is. Without
``--checkpoint`` the D-FINE variant configs get well-conditioned random
weights (the parity recipe), so the detections can be compared too.
"""

import argparse
import os.path as osp
import statistics
import tempfile

import cv2
import numpy as np
import torch
from mmengine.logging import print_log

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STATIC_ORT = osp.join(
    ROOT, 'configs', 'deploy', 'detection_onnxruntime_static.py'
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+', help='model config(s)')
    parser.add_argument('--checkpoint', help='weights (one config only)')
    parser.add_argument('--deploy-cfg', default=STATIC_ORT)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=60)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--block', type=int, default=1)
    parser.add_argument('--settle', type=int, default=0)
    parser.add_argument(
        '--spinning',
        action='store_true',
        help="ONNX Runtime's threads spin-wait between runs (its default)",
    )
    parser.add_argument(
        '--default-malloc',
        action='store_true',
        help='leave glibc malloc returning freed memory to the system',
    )
    args = parser.parse_args(argv)
    if args.checkpoint and len(args.configs) > 1:
        parser.error('--checkpoint goes with a single config')
    return args


def _weights(config: str, work_dir: str) -> str:
    from dfine_mm.converters.dfine import VARIANT_CONFIGS
    from dfine_mm.testing import conditioned_state_dict

    variant = next(
        (v for v, name in VARIANT_CONFIGS.items() if config.endswith(name)),
        None,
    )
    if variant is None:
        raise ValueError(
            f'{config} is not a D-FINE variant config; pass --checkpoint'
        )
    path = osp.join(work_dir, f'dfine_{variant}_random.pth')
    torch.save(dict(state_dict=conditioned_state_dict(variant)), path)
    return path


def benchmark(config: str, args: argparse.Namespace, work_dir: str) -> str:
    """Export, check and time one config; return the report lines."""
    from dfine_mm.deploy import export_model
    from dfine_mm.deploy.export import load_configs, task_processor
    from dfine_mm.deploy.verify import (
        detection_differences,
        onnxruntime_detections,
        onnxruntime_session,
        pytorch_detections,
    )
    from dfine_mm.testing import (
        alternating_times,
        medians,
        paired_ratios,
        synthetic_images,
    )

    height, width = args.size
    images = synthetic_images(height, width, 1)
    image_file = osp.join(work_dir, 'image.png')
    rgb = (images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    cv2.imwrite(image_file, rgb[..., ::-1])
    checkpoint = args.checkpoint or _weights(config, work_dir)
    deploy_cfg, model_cfg = load_configs(args.deploy_cfg, config)
    deploy_cfg.onnx_config.input_shape = [width, height]
    out_dir = osp.join(work_dir, osp.splitext(osp.basename(config))[0])
    onnx_path = export_model(
        deploy_cfg, model_cfg, checkpoint, image_file, out_dir
    )['onnx']
    model = task_processor(deploy_cfg, model_cfg).build_pytorch_model(
        checkpoint
    )
    torch.set_num_threads(args.threads)
    session = onnxruntime_session(
        onnx_path, args.threads, spinning=args.spinning
    )
    runners = dict(
        onnxruntime=lambda: onnxruntime_detections(session, images),
        pytorch=lambda: pytorch_detections(model, images),
    )
    outputs = {name: run() for name, run in runners.items()}
    diff = detection_differences(outputs['pytorch'], outputs['onnxruntime'])
    times = alternating_times(
        runners, args.warmup, args.runs, args.block, args.settle
    )
    ms = medians(times)
    ratios = statistics.quantiles(
        paired_ratios(times, 'onnxruntime', 'pytorch'), n=4
    )
    spinning = 'on' if args.spinning else 'off'
    return '\n'.join(
        [
            f'{config}: batch 1, {height}x{width}, {args.threads} threads, '
            f'{args.runs} rounds of {args.block} timed runs each (after '
            f'{args.settle} untimed), onnxruntime spinning {spinning}',
            f'  onnxruntime:        {ms["onnxruntime"]:.1f} ms (median)',
            f'  pytorch (deploy):   {ms["pytorch"]:.1f} ms (median)',
            f'  ratio onnxruntime / pytorch: '
            f'{ms["onnxruntime"] / ms["pytorch"]:.3f} (of the medians); '
            f'per round: median {ratios[1]:.3f}, quartiles '
            f'{ratios[0]:.3f}-{ratios[2]:.3f}',
            f'  top-100 detections, max abs diff: scores '
            f'{diff["score"]:.2e}, boxes {diff["box"]:.2e} px, label '
            f'mismatches {diff["label_mismatches"]}',
        ]
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    import onnxruntime

    import dfine_mm  # noqa: F401
    from dfine_mm.testing import keep_freed_memory

    if args.default_malloc:
        malloc = 'default'
    elif keep_freed_memory():
        malloc = 'keeps freed memory'
    else:
        malloc = 'default (not glibc)'
    reports = []
    with tempfile.TemporaryDirectory() as work_dir:
        for config in args.configs:
            reports.append(benchmark(config, args, work_dir))
    print_log(
        f'onnxruntime {onnxruntime.__version__}, torch {torch.__version__}, '
        f'malloc {malloc}\n' + '\n'.join(reports),
        logger='current',
    )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
