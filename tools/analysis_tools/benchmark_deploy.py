"""ONNX Runtime against PyTorch (deploy mode) on the CPU, in one run.

Example::

    python tools/analysis_tools/benchmark_deploy.py \\
        configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py \\
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py

For each model config: export with ``--deploy-cfg`` (default: ONNX Runtime,
static), then time ONNX Runtime and the PyTorch model that mmdeploy exports
(after ``switch_to_deploy()``), both with ``--threads`` intra-op threads
(default 2), batch 1, ``--size`` (default 640x640). The two take turns of
``--block`` timed runs (default 5) after ``--settle`` untimed ones (default
1), so that both run with their default thread behaviour (ONNX Runtime's
and OpenMP's threads spin-wait for a while after a run) without one's
spinning threads taking the cores from the other; the median of
``--runs`` rounds after ``--warmup``. ``--block 1 --settle 0
--no-spinning`` times run by run with ONNX Runtime's spinning off. Both
timings cover the whole network including the top-K post-processing.
Without ``--checkpoint`` the D-FINE variant configs get well-conditioned
random weights (the parity recipe), so the detections can be compared too.
"""

import argparse
import os.path as osp
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
    parser.add_argument('--runs', type=int, default=4)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--block', type=int, default=5)
    parser.add_argument('--settle', type=int, default=1)
    parser.add_argument(
        '--no-spinning',
        action='store_true',
        help="turn ONNX Runtime's spin-waiting threads off",
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
    from dfine_mm.testing import alternating_medians, synthetic_images

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
        onnx_path, args.threads, spinning=not args.no_spinning
    )
    runners = dict(
        onnxruntime=lambda: onnxruntime_detections(session, images),
        pytorch=lambda: pytorch_detections(model, images),
    )
    outputs = {name: run() for name, run in runners.items()}
    diff = detection_differences(outputs['pytorch'], outputs['onnxruntime'])
    ms = alternating_medians(
        runners, args.warmup, args.runs, args.block, args.settle
    )
    spinning = 'off' if args.no_spinning else 'on'
    return '\n'.join(
        [
            f'{config}: batch 1, {height}x{width}, {args.threads} threads, '
            f'median of {args.runs * args.block} runs (turns of '
            f'{args.block} after {args.settle} untimed), onnxruntime '
            f'spinning {spinning}',
            f'  onnxruntime:        {ms["onnxruntime"]:.1f} ms',
            f'  pytorch (deploy):   {ms["pytorch"]:.1f} ms',
            f'  ratio onnxruntime / pytorch: '
            f'{ms["onnxruntime"] / ms["pytorch"]:.3f}',
            f'  top-100 detections, max abs diff: scores '
            f'{diff["score"]:.2e}, boxes {diff["box"]:.2e} px, label '
            f'mismatches {diff["label_mismatches"]}',
        ]
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    import onnxruntime

    import dfine_mm  # noqa: F401

    reports = []
    with tempfile.TemporaryDirectory() as work_dir:
        for config in args.configs:
            reports.append(benchmark(config, args, work_dir))
    print_log(
        f'onnxruntime {onnxruntime.__version__}, torch {torch.__version__}\n'
        + '\n'.join(reports),
        logger='current',
    )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
