"""Select torch's TorchScript-based ONNX exporter for mmdeploy.

Since torch 2.9, ``torch.onnx.export`` defaults to the dynamo exporter.
mmdeploy 1.3.1 calls it without ``dynamo=`` and relies on the TorchScript
exporter (its rewriters patch functions during tracing and register
TorchScript symbolics), so under a new torch every export fails. dfine_mm
makes ``dynamo=False`` the default again while :mod:`dfine_mm.deploy` is
imported; an explicit ``dynamo=True`` is left alone.
"""

import functools
from typing import Callable

import torch
from mmengine.utils import digit_version

#: first torch release whose ``torch.onnx.export`` defaults to dynamo
DYNAMO_DEFAULT_SINCE = '2.9.0'
#: lowest opset with a standard ``GridSample`` (deformable sampling)
MIN_OPSET = 16
#: opset with a standard ``LayerNormalization``
LAYER_NORM_OPSET = 17


def _needs_legacy_default(version: str = torch.__version__) -> bool:
    return digit_version(version) >= digit_version(DYNAMO_DEFAULT_SINCE)


def select_legacy_onnx_exporter() -> bool:
    """Make ``torch.onnx.export`` default to ``dynamo=False``.

    Idempotent. Only patches torch versions that default to dynamo.

    Returns:
        bool: Whether ``torch.onnx.export`` is (now) the patched wrapper.
    """
    export = torch.onnx.export
    if getattr(export, '_dfine_mm_legacy', False):
        return True
    if not _needs_legacy_default():
        return False

    @functools.wraps(export)
    def legacy_export(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    legacy_export._dfine_mm_legacy = True
    legacy_export._dfine_mm_original = export
    torch.onnx.export = legacy_export
    return True


def original_onnx_export() -> Callable:
    """``torch.onnx.export`` as torch defines it (unpatched)."""
    export = torch.onnx.export
    return getattr(export, '_dfine_mm_original', export)


def check_opset(opset: int, backend: str) -> None:
    """Refuse opsets our models cannot be exported with.

    Args:
        opset (int): The deploy config's ``onnx_config.opset_version``.
        backend (str): mmdeploy backend name, e.g. ``'onnxruntime'``.

    Raises:
        ValueError: Opset below 16 (no standard ``GridSample`` for the
            deformable attention), or below 17 for TensorRT (no native
            ``LayerNormalization``, which TensorRT needs to keep the norms
            in fp32 under fp16).
    """
    if opset < MIN_OPSET:
        raise ValueError(
            f'onnx_config.opset_version={opset} is too low for D-FINE: its '
            'deformable attention samples features with grid_sample, which '
            f'is a standard ONNX operator (GridSample) only from opset '
            f"{MIN_OPSET}; older opsets would need mmdeploy's custom "
            'grid_sampler op and its plugin library. Set '
            f'onnx_config.opset_version={LAYER_NORM_OPSET} (or '
            f'{MIN_OPSET}).'
        )
    if backend == 'tensorrt' and opset < LAYER_NORM_OPSET:
        raise ValueError(
            f'onnx_config.opset_version={opset}: TensorRT configs need '
            f'opset {LAYER_NORM_OPSET} so that layer norms export as native '
            'LayerNormalization (kept in fp32 by the fp16 engine builder). '
            f'Set onnx_config.opset_version={LAYER_NORM_OPSET}.'
        )
