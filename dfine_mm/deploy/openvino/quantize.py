"""INT8 OpenVINO IRs: NNCF post-training quantisation of an fp32 IR,
calibrated on images of the model config's training set."""

import logging
from typing import Any, List, Sequence

import numpy as np
from mmengine.logging import print_log

from .runtime import ir_input_shape, require_openvino

NNCF_HINT = "pip install 'nncf>=2.14'"
#: D-FINE's modules left unquantised by default: the stem loses the most
#: accuracy in INT8 by itself on the demo checkpoint and costs little kept
#: fp32; the FPN and PAN blocks, next, would take D-FINE-S from 2.4x to
#: 1.4x fp32's speed (docs/deploy.md, INT8)
DEFAULT_IGNORED = ('/backbone/stem',)


def require_nncf():
    """Import NNCF or raise naming the package to install."""
    import importlib.util

    if importlib.util.find_spec('nncf') is None:
        raise RuntimeError(
            f'NNCF is not installed; install it with {NNCF_HINT} and run again'
        )
    import nncf

    return nncf


def calibration_inputs(
    model_cfg: Any, num_images: int, split: str = 'train'
) -> List[np.ndarray]:
    """Network inputs of the first ``num_images`` images of a split.

    Each image goes through the model config's *test* pipeline (its fixed
    resize, no augmentation) and data preprocessor, i.e. exactly what the
    exported model is given at test time.

    Args:
        model_cfg (Config): The model's mmdet config.
        num_images (int): Images wanted.
        split (str): ``'train'`` or ``'val'`` (its dataloader's dataset).

    Returns:
        list[np.ndarray]: (1, 3, H, W) float32 arrays; fewer than
        ``num_images`` when the split is smaller (a warning says how many).

    Raises:
        ValueError: ``num_images`` below 1.
    """
    import copy

    from mmdet.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    from ...datasets.check import innermost_dataset

    if num_images < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    init_default_scope('mmdet')
    dataset_cfg = copy.deepcopy(innermost_dataset(model_cfg, split)[0])
    dataset_cfg['pipeline'] = copy.deepcopy(
        innermost_dataset(model_cfg, 'test')[0]['pipeline']
    )
    dataset_cfg['test_mode'] = True
    dataset = DATASETS.build(dataset_cfg)
    preprocessor = MODELS.build(model_cfg.model.data_preprocessor)
    count = min(num_images, len(dataset))
    if count < num_images:
        print_log(
            f'calibration: {num_images} images asked, the {split} set has '
            f'{len(dataset)}; calibrating on {count}',
            logger='current',
            level=30,
        )
    inputs = []
    for index in range(count):
        batch = preprocessor(pseudo_collate([dataset[index]]), False)
        inputs.append(batch['inputs'].float().numpy())
    return inputs


def quantize_ir(
    xml_path: str,
    out_path: str,
    inputs: Sequence[np.ndarray],
    ignored_modules: Sequence[str] = (),
    fast_bias_correction: bool = True,
    only_modules: Sequence[str] = (),
) -> str:
    """Quantise an fp32 IR to INT8 with NNCF and save it.

    Args:
        xml_path (str): The fp32 IR's ``.xml``.
        out_path (str): Where the INT8 IR's ``.xml`` goes.
        inputs (Sequence[np.ndarray]): Calibration inputs, (1, 3, H, W)
            each, the IR's input size for a static IR.
        ignored_modules (Sequence[str]): Layer-name prefixes of modules
            left unquantised.
        fast_bias_correction (bool): NNCF's fast bias correction (else the
            full one, slower).
        only_modules (Sequence[str]): Quantise these modules (layer-name
            prefixes) only, for measurement; the others stay fp32.

    Returns:
        str: ``out_path``.

    Raises:
        ValueError: No inputs, inputs that do not fit a static IR (both
            sizes named), or an ignored module that matches no layer.
    """
    import re

    ov = require_openvino()
    nncf = require_nncf()
    if not len(inputs):
        raise ValueError('no calibration inputs')
    model = ov.Core().read_model(xml_path)
    expected = ir_input_shape(model)
    actual = list(inputs[0].shape)
    if -1 not in expected and expected[1:] != actual[1:]:
        raise ValueError(
            f'{xml_path} takes input {expected} but the calibration images '
            f'come out of the model config at {actual}: use the model '
            'config the IR was exported with'
        )
    names = [op.get_friendly_name() for op in model.get_ops()]
    for prefix in [*ignored_modules, *only_modules]:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(
                f'no layer of {xml_path} is in {prefix!r}: give prefixes '
                "of this model's layer names (e.g. '/backbone/stem')"
            )
    patterns = [re.escape(p) + '.*' for p in ignored_modules]
    if only_modules:
        alternatives = '|'.join(re.escape(p) for p in only_modules)
        patterns.append(f'(?!(?:{alternatives})).*')
    ignored = None
    if patterns:
        ignored = nncf.IgnoredScope(patterns=patterns, validate=False)
    nncf.set_log_level(logging.WARNING)  # not one line per quantiser
    quantized = nncf.quantize(
        model,
        nncf.Dataset(list(inputs)),
        preset=nncf.QuantizationPreset.MIXED,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs),
        fast_bias_correction=fast_bias_correction,
        ignored_scope=ignored,
    )
    ov.save_model(quantized, out_path, compress_to_fp16=False)
    print_log(
        f'INT8 IR written: {out_path} (calibrated on {len(inputs)} images)',
        logger='current',
    )
    return out_path
