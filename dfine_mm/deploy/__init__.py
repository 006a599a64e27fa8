"""Deployment of dfine_mm models with mmdeploy (ONNX Runtime, TensorRT,
OpenVINO).

Import this package only where mmdeploy is used (``tools/deploy.py`` and
``tools/test_deploy.py`` do). Importing it:

* makes ``torch.onnx.export`` default to the TorchScript exporter, which
  mmdeploy 1.3.1 needs (torch >= 2.9 defaults to dynamo);
* registers symbolics so that exports for ONNX Runtime and TensorRT hold
  standard ``GridSample`` and ``LayerNormalization`` nodes only, and
  rewriters that keep the graph fast (``Clip`` for the folded backbone
  activations);
* replaces mmdeploy's TensorRT backend (written for TensorRT 8's binding
  API) with a TensorRT 10+ builder and runner, and its OpenVINO backend
  (Model Optimizer, ``inference_engine``) with OpenVINO's current API.
"""

from .onnx_exporter import check_opset, select_legacy_onnx_exporter

select_legacy_onnx_exporter()

from . import rewriters, symbolics  # noqa: E402,F401  (registrations)
from .export import (  # noqa: E402
    check_checkpoint,
    check_standard_onnx,
    export_model,
    onnx_domains,
)
from .openvino import DFineOpenVINOManager, openvino_version  # noqa: E402
from .tensorrt import DFineTensorRTManager, tensorrt_version  # noqa: E402

__all__ = [
    'DFineOpenVINOManager',
    'DFineTensorRTManager',
    'check_checkpoint',
    'check_opset',
    'check_standard_onnx',
    'export_model',
    'onnx_domains',
    'openvino_version',
    'select_legacy_onnx_exporter',
    'tensorrt_version',
]
