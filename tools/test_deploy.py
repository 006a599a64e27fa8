"""Evaluate an exported model (ONNX Runtime / TensorRT) with the model
config's test set and evaluator (mmdeploy's ``tools/test.py`` shape).

Example::

    python tools/test_deploy.py \\
        configs/deploy/detection_onnxruntime_static.py \\
        configs/dfine/dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py \\
        --model work_dirs/demo_onnx/end2end.onnx
"""

import argparse

from mmengine.config import DictAction
from mmengine.logging import print_log


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('deploy_cfg', help='deploy config of the export')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument(
        '--model',
        nargs='+',
        required=True,
        help='end2end.onnx / .engine / .xml (OpenVINO IR)',
    )
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda:N'")
    parser.add_argument(
        '--work-dir', default='work_dirs/test_deploy', help='logs, metrics'
    )
    parser.add_argument('--out', help='dump the detections to a .pkl file')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='test batch size (> 1 needs a dynamic-batch export)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override model config settings, e.g. '
        'test_dataloader.dataset.data_root=data/demo/',
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import dfine_mm  # noqa: F401
    from dfine_mm.deploy.evaluate import evaluate_backend_model

    metrics = evaluate_backend_model(
        args.deploy_cfg,
        args.model_cfg,
        args.model,
        args.work_dir,
        device=args.device,
        batch_size=args.batch_size,
        cfg_options=args.cfg_options,
        out=args.out,
    )
    print_log(f'metrics: {metrics}', logger='current')
    return metrics


if __name__ == '__main__':
    main()
