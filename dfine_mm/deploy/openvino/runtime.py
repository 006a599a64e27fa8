"""OpenVINO (2024+ API): ONNX to IR, and compiling an IR for the CPU.

mmdeploy 1.3.1 converts with the Model Optimizer (``openvino.tools.mo``)
and runs with ``openvino.inference_engine``, both gone from current
OpenVINO releases; these are their replacements on ``openvino.convert_model``
/ ``save_model`` / ``Core.compile_model``.
"""

import importlib
import importlib.metadata
import importlib.util
import os.path as osp
from typing import Any, Dict, Optional, Sequence

INSTALL_HINT = "pip install 'openvino>=2024.0'"
#: ``backend_config.precision`` -> the CPU's ``INFERENCE_PRECISION_HINT``
#: (None: the CPU's default, bf16 where it has bf16 kernels, else f32)
PRECISIONS = {'f32': 'f32', 'bf16': 'bf16', 'f16': 'f16', 'default': None}


def openvino_version() -> Optional[str]:
    """The installed OpenVINO version, or None."""
    if importlib.util.find_spec('openvino') is None:
        return None
    try:
        return importlib.metadata.version('openvino')
    except importlib.metadata.PackageNotFoundError:
        return None


def require_openvino(prefix: str = ''):
    """Import OpenVINO or raise naming the package to install.

    Args:
        prefix (str): Said first (e.g. what was already written).

    Raises:
        RuntimeError: OpenVINO is not installed.
    """
    if openvino_version() is None:
        raise RuntimeError(
            f'{prefix}OpenVINO is not installed; install it with '
            f'{INSTALL_HINT} and run again'
        )
    return importlib.import_module('openvino')


def onnx_to_ir(
    onnx_path: str,
    xml_path: str,
    fp32_modules: Optional[Sequence[str]] = None,
) -> str:
    """Convert an ONNX file to an OpenVINO IR (``.xml`` + ``.bin``) with
    fp32 weights (``save_model`` would compress them to fp16 by default).

    Args:
        onnx_path (str): The ONNX file.
        xml_path (str): Where the IR's ``.xml`` goes.
        fp32_modules (Sequence[str], optional): Layer-name prefixes of the
            modules that stay fp32 when the CPU runs in low precision
            (:func:`~dfine_mm.deploy.openvino.precision.keep_fp32`).

    Returns:
        str: ``xml_path``.
    """
    ov = require_openvino()
    model = ov.convert_model(onnx_path)
    ov.save_model(model, xml_path, compress_to_fp16=False)
    if fp32_modules:
        from .precision import keep_fp32

        keep_fp32(xml_path, fp32_modules)
    return xml_path


def ir_input_shape(model) -> list:
    """The IR's first input shape; -1 for a dynamic dimension."""
    shape = model.inputs[0].get_partial_shape()
    return [d.get_length() if d.is_static else -1 for d in shape]


def config_input_shape(deploy_cfg: Any) -> Optional[list]:
    """The static input shape a deploy config fixes (its ``model_inputs``
    ``opt_shapes``), or None for a dynamic config."""
    from mmdeploy.utils import get_dynamic_axes, get_onnx_config

    if deploy_cfg is None:
        return None
    names = get_onnx_config(deploy_cfg)['input_names']
    if get_dynamic_axes(deploy_cfg, names):
        return None
    backend = deploy_cfg.get('backend_config', {})
    for model_inputs in backend.get('model_inputs', []):
        shapes = model_inputs.get('opt_shapes', {})
        if names[0] in shapes:
            return list(shapes[names[0]])
    return None


def check_ir_shape(model, expected: Optional[Sequence[int]], xml: str):
    """Refuse an IR whose static input does not match the config's.

    Raises:
        ValueError: Both shapes named.
    """
    if expected is None:
        return
    actual = ir_input_shape(model)
    if -1 not in actual and list(actual) != list(expected):
        raise ValueError(
            f'{xml} takes input {actual} but the deploy config is static at '
            f'{list(expected)}: export again with this config, or use the '
            'config the IR was made with'
        )


def compile_config(backend_config: Dict) -> Dict[str, Any]:
    """``Core.compile_model`` properties of a deploy config's
    ``backend_config`` (``precision``, ``num_threads``).

    Raises:
        ValueError: An unknown precision.
    """
    precision = backend_config.get('precision', 'f32')
    if precision not in PRECISIONS:
        raise ValueError(
            f'backend_config.precision must be one of {sorted(PRECISIONS)}, '
            f'got {precision!r}'
        )
    config = {'PERFORMANCE_HINT': 'LATENCY'}
    if PRECISIONS[precision] is not None:
        config['INFERENCE_PRECISION_HINT'] = PRECISIONS[precision]
    if backend_config.get('num_threads'):
        config['INFERENCE_NUM_THREADS'] = int(backend_config['num_threads'])
    return config


def ir_path(onnx_path: str, work_dir: Optional[str] = None) -> str:
    """Where the IR of ``onnx_path`` goes (``end2end.xml`` next to it)."""
    name = osp.splitext(osp.basename(onnx_path))[0] + '.xml'
    return osp.join(work_dir or osp.dirname(onnx_path), name)
