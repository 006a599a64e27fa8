"""fp16 check: the deploy model at the precision of a TensorRT fp16 engine.

Example::

    python tools/analysis_tools/check_fp16.py CONFIG CHECKPOINT \\
        [IMAGES ...] [--out fp16.json]

Builds the PyTorch deploy model as mmdeploy exports it (``--deploy-cfg``,
default the TensorRT fp16 static 640x640 config) and runs it on the CPU in
fp32 and with fp16 emulated (:mod:`dfine_mm.deploy.fp16_emulation`: every
op's outputs rounded to fp16, fp32 arithmetic as TensorRT's fp32
accumulation), twice: with the modules that the TensorRT fp16 configs keep
in fp32 (``--fp32-types``, default ``LayerNorm``: the ONNX
``LayerNormalization`` layers) and with everything in fp16. Reports per
module (down to ``--depth`` levels) the largest fp32 |activation| (beyond
65504 it overflows fp16), the inf/NaN count and the relative error of the
outputs under fp16, and the detection differences: top-100 paired, and
over the detections with fp32 score >= ``--score-thr`` (acceptance: scores
within 1e-2). Without IMAGES, ``--num-images`` synthetic images.
"""

import argparse
import json
import os.path as osp

from mmengine.logging import print_log

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TENSORRT_FP16 = osp.join(
    ROOT, 'configs', 'deploy', 'detection_tensorrt-fp16_static-640x640.py'
)


def parse_args(argv=None) -> argparse.Namespace:
    from dfine_mm.deploy.fp16_emulation import DEFAULT_FP32_TYPES

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='weights')
    parser.add_argument('images', nargs='*', help='image files')
    parser.add_argument('--deploy-cfg', default=TENSORRT_FP16)
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="input size (default: the deploy config's, else 640 640)",
    )
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument(
        '--fp32-types',
        nargs='+',
        default=list(DEFAULT_FP32_TYPES),
        help="module class names kept in fp32 ('none': nothing)",
    )
    parser.add_argument('--depth', type=int, default=3)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--top', type=int, default=5)
    parser.add_argument('--out', help='JSON file with all the numbers')
    args = parser.parse_args(argv)
    if [t.lower() for t in args.fp32_types] == ['none']:
        args.fp32_types = []
    return args


def input_size(deploy_cfg, size):
    """(H, W): ``size`` or the deploy config's static input shape.

    Raises:
        ValueError: ``size`` differs from a static config's shape.
    """
    from mmdeploy.utils import get_input_shape

    shape = get_input_shape(deploy_cfg)  # [W, H] or None (dynamic)
    static = None if shape is None else (int(shape[1]), int(shape[0]))
    if size is not None:
        size = tuple(size)
        if static is not None and size != static:
            raise ValueError(
                f'--size {size[0]} {size[1]} differs from the static input '
                f'size {static[0]}x{static[1]} of the deploy config; use a '
                'dynamic deploy config for other sizes'
            )
        return size
    return static or (640, 640)


def main(argv=None) -> int:
    args = parse_args(argv)
    for kind, path in [
        ('config', args.config),
        ('checkpoint', args.checkpoint),
        ('deploy config', args.deploy_cfg),
        *(('image', image) for image in args.images),
    ]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{kind} not found: {path}')
    import dfine_mm  # noqa: F401
    from dfine_mm.deploy.export import load_configs, task_processor
    from dfine_mm.deploy.fp16_check import Fp16Check, load_images
    from dfine_mm.deploy.fp16_report import format_report, json_safe
    from dfine_mm.testing import synthetic_images

    deploy_cfg, model_cfg = load_configs(args.deploy_cfg, args.config)
    height, width = input_size(deploy_cfg, args.size)
    if args.images:
        images = load_images(args.images, height, width)
    else:
        images = synthetic_images(height, width, args.num_images)
    model = task_processor(deploy_cfg, model_cfg).build_pytorch_model(
        args.checkpoint
    )
    check = Fp16Check(model, args.fp32_types, args.depth, args.score_thr)
    result = check.run(images)
    result.update(size=[height, width], deploy_cfg=args.deploy_cfg)
    print_log(
        f'{args.config} ({osp.basename(args.checkpoint)}), '
        f'{height}x{width}:\n' + format_report(result, args.top),
        logger='current',
    )
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(json_safe(result), file, indent=1)
        print_log(f'all numbers: {args.out}', logger='current')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
