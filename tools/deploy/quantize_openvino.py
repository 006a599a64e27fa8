"""INT8 OpenVINO IR: NNCF post-training quantisation of an exported IR.

Example (after ``tools/deploy.py`` with an OpenVINO config)::

    python tools/deploy/quantize_openvino.py \\
        configs/deploy/detection_openvino_static-640x640.py \\
        MODEL_CFG --model DIR/end2end.xml --num-images 300
    python tools/test_deploy.py \\
        configs/deploy/detection_openvino-int8_static-640x640.py \\
        MODEL_CFG --model DIR/end2end_int8.xml

Calibration images are the first ``--num-images`` of the model config's
training set, through its test pipeline and data preprocessor (what the
model sees at test time). The modules of ``--ignore`` (layer-name
prefixes) stay unquantised; the default is D-FINE's list chosen by
measurement (docs/deploy.md); other models pass their own (or ``--ignore``
alone for none).
"""

import argparse
import os.path as osp

from mmengine.config import DictAction
from mmengine.logging import print_log

from dfine_mm.deploy.openvino.quantize import DEFAULT_IGNORED


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('deploy_cfg', help='deploy config of the export')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('--model', required=True, help='fp32 end2end.xml')
    parser.add_argument('--out', help='INT8 .xml (default: *_int8.xml)')
    parser.add_argument('--num-images', type=int, default=300)
    parser.add_argument('--split', default='train', choices=['train', 'val'])
    parser.add_argument(
        '--ignore', nargs='*', default=list(DEFAULT_IGNORED),
        help='layer-name prefixes of modules left unquantised',
    )  # fmt: skip
    parser.add_argument(
        '--full-bias-correction', action='store_true',
        help="NNCF's full bias correction (slower)",
    )  # fmt: skip
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override model config settings, e.g. '
        'train_dataloader.dataset.data_root=data/demo/',
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import dfine_mm  # noqa: F401
    from dfine_mm.deploy.export import load_configs
    from dfine_mm.deploy.openvino.quantize import (
        calibration_inputs,
        quantize_ir,
    )

    if not osp.isfile(args.model):
        raise FileNotFoundError(f'IR not found: {args.model}')
    _, model_cfg = load_configs(
        args.deploy_cfg, args.model_cfg, args.cfg_options
    )
    out = args.out or osp.splitext(args.model)[0] + '_int8.xml'
    inputs = calibration_inputs(model_cfg, args.num_images, args.split)
    quantize_ir(
        args.model, out, inputs, args.ignore,
        fast_bias_correction=not args.full_bias_correction,
    )  # fmt: skip
    print_log(f'xml: {out}', logger='current')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
