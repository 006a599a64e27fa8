"""Export a detector with mmdeploy: ONNX (and a TensorRT 10+ engine).

mmdeploy's command-line shape; dfine_mm selects the TorchScript ONNX
exporter, emits standard ONNX ops only and builds TensorRT engines with
TensorRT 10's API (see docs/deploy.md).

Examples::

    python tools/deploy.py configs/deploy/detection_onnxruntime_static.py \\
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py dfine_s.pth \\
        demo.jpg --work-dir work_dirs/dfine_s_onnx
    python tools/deploy.py \\
        configs/deploy/detection_tensorrt-fp16_static-640x640.py \\
        MODEL_CFG CHECKPOINT IMAGE --work-dir DIR --device cuda:0
"""

import argparse
import logging

from mmengine.config import DictAction
from mmengine.logging import MMLogger, print_log


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('deploy_cfg', help='deploy config (configs/deploy)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='model checkpoint (.pth)')
    parser.add_argument('img', help='image the export is traced with')
    parser.add_argument(
        '--work-dir', default='work_dirs/deploy', help='output directory'
    )
    parser.add_argument(
        '--device',
        default='cpu',
        help="device the model is built on: 'cpu' or 'cuda:N' (TensorRT)",
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override model config settings, e.g. '
        'model.test_cfg.max_per_img=100',
    )
    parser.add_argument(
        '--log-level',
        default='INFO',
        choices=['DEBUG', 'INFO', 'WARNING', 'ERROR'],
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import dfine_mm  # noqa: F401  (version checks, safe checkpoint loading)
    from dfine_mm.deploy import export_model

    logger = MMLogger.get_instance('dfine_mm_deploy', log_level=args.log_level)
    logger.setLevel(getattr(logging, args.log_level))
    outputs = export_model(
        args.deploy_cfg,
        args.model_cfg,
        args.checkpoint,
        args.img,
        args.work_dir,
        device=args.device,
        cfg_options=args.cfg_options,
    )
    for kind, path in outputs.items():
        print_log(f'{kind}: {path}', logger='current')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
