"""TensorRT 10+ support: engine builder, runner and mmdeploy backend."""

from .builder import (
    FP32_LAYER_TYPES,
    INSTALL_HINT,
    build_engine,
    build_engine_from_deploy_cfg,
    cuda_device_id,
    engine_input_shapes,
    fp32_layer_indices,
    require_tensorrt,
    tensorrt_version,
)
from .manager import DFineTensorRTManager
from .onnx_support import (
    default_opset,
    tensorrt_onnx_operators,
    tensorrt_problems,
)

__all__ = [
    'DFineTensorRTManager',
    'FP32_LAYER_TYPES',
    'INSTALL_HINT',
    'build_engine',
    'build_engine_from_deploy_cfg',
    'cuda_device_id',
    'default_opset',
    'engine_input_shapes',
    'fp32_layer_indices',
    'require_tensorrt',
    'tensorrt_onnx_operators',
    'tensorrt_problems',
    'tensorrt_version',
]
