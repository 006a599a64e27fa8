"""OpenVINO support: ONNX to IR, a CPU runner and the mmdeploy backend."""

from .manager import DFineOpenVINOManager
from .runtime import (
    INSTALL_HINT,
    PRECISIONS,
    check_ir_shape,
    compile_config,
    config_input_shape,
    ir_input_shape,
    ir_path,
    onnx_to_ir,
    openvino_version,
    require_openvino,
)

__all__ = [
    'DFineOpenVINOManager',
    'INSTALL_HINT',
    'PRECISIONS',
    'check_ir_shape',
    'compile_config',
    'config_input_shape',
    'ir_input_shape',
    'ir_path',
    'onnx_to_ir',
    'openvino_version',
    'require_openvino',
]
