"""TensorRT 10+ engine builder for dfine_mm's ONNX exports.

mmdeploy 1.3.1 builds engines with TensorRT 8's API and its plugin library;
dfine_mm's exports hold standard ONNX ops only, so a plain TensorRT 10
build suffices. In fp16 the normalization layers (ONNX
``LayerNormalization``) are pinned to fp32: D-FINE-family models lose their
accuracy when those run in fp16.

Only :func:`build_engine` needs TensorRT; the configuration helpers are
plain Python and tested without it.
"""

from importlib import metadata
from typing import Dict, List, Optional, Sequence

from mmengine.logging import print_log
from mmengine.utils import digit_version

MIN_TENSORRT = '10.0.0'
INSTALL_HINT = (
    'TensorRT >= 10 is needed to build and run engines (an NVIDIA GPU and '
    'driver too): pip install "tensorrt-cu12>=10" (or tensorrt-cu13 for '
    "CUDA 13; the wheels come from NVIDIA's package index, pypi.nvidia.com),"
    ' or install TensorRT 10 from NVIDIA and its Python bindings.'
)
#: TensorRT layer types kept in fp32 inside fp16 engines
FP32_LAYER_TYPES = ('NORMALIZATION',)

Shape = List[int]


def tensorrt_version() -> Optional[str]:
    """Installed TensorRT version, or None when it cannot be imported."""
    try:
        import tensorrt
    except ImportError:
        return None
    version = getattr(tensorrt, '__version__', None)
    if version is None:  # pragma: no cover - every release sets it
        try:
            version = metadata.version('tensorrt')
        except metadata.PackageNotFoundError:
            return None
    return version


def require_tensorrt(prefix: str = ''):
    """Import TensorRT 10+ or raise with install instructions.

    Args:
        prefix (str): Text put before the message (what was already done).

    Raises:
        RuntimeError: TensorRT missing or older than 10.
    """
    version = tensorrt_version()
    if version is None:
        raise RuntimeError(
            f'{prefix}TensorRT is not installed. {INSTALL_HINT}'
        )
    if digit_version(version) < digit_version(MIN_TENSORRT):
        raise RuntimeError(
            f'{prefix}TensorRT {version} is installed; dfine_mm needs '
            f'TensorRT >= 10 (the binding API of older releases is not '
            f'supported). {INSTALL_HINT}'
        )
    import tensorrt

    return tensorrt


def engine_input_shapes(deploy_cfg) -> Dict[str, Dict[str, Shape]]:
    """The optimisation profile of a TensorRT deploy config.

    Reads ``backend_config.model_inputs[0].input_shapes`` (mmdeploy's
    layout): per input ``min_shape``, ``opt_shape`` and ``max_shape``.

    Raises:
        ValueError: Missing entries, ranks that differ, or min <= opt <= max
            violated.
    """
    backend_cfg = deploy_cfg.get('backend_config', {})
    model_inputs = backend_cfg.get('model_inputs') or []
    if len(model_inputs) != 1 or 'input_shapes' not in model_inputs[0]:
        raise ValueError(
            'a TensorRT deploy config needs backend_config.model_inputs = '
            '[dict(input_shapes=dict(input=dict(min_shape=..., opt_shape=...,'
            ' max_shape=...)))]'
        )
    shapes = {}
    for name, spec in model_inputs[0]['input_shapes'].items():
        try:
            low, opt, high = (
                [int(v) for v in spec[key]]
                for key in ('min_shape', 'opt_shape', 'max_shape')
            )
        except KeyError as err:
            raise ValueError(
                f'input_shapes.{name} lacks {err.args[0]}'
            ) from None
        if not len(low) == len(opt) == len(high):
            raise ValueError(f'input_shapes.{name}: shapes of different rank')
        if not all(a <= b <= c for a, b, c in zip(low, opt, high)):
            raise ValueError(
                f'input_shapes.{name}: need min <= opt <= max per axis, got '
                f'{low} / {opt} / {high}'
            )
        shapes[name] = dict(min_shape=low, opt_shape=opt, max_shape=high)
    return shapes


def fp32_layer_indices(layer_types: Sequence[str]) -> List[int]:
    """Layers of an fp16 engine that must stay fp32.

    Args:
        layer_types (Sequence[str]): ``network.get_layer(i).type.name`` of
            every layer, in order.

    Returns:
        list[int]: Indices of the normalization layers.
    """
    return [
        i for i, kind in enumerate(layer_types) if kind in FP32_LAYER_TYPES
    ]


def cuda_device_id(device: str) -> int:
    """Device index of ``'cuda'`` / ``'cuda:N'``.

    Raises:
        ValueError: Any other device (TensorRT runs on NVIDIA GPUs only).
    """
    if device == 'cuda':
        return 0
    if device.startswith('cuda:') and device[5:].isdigit():
        return int(device[5:])
    raise ValueError(
        f'TensorRT engines are built and run on a CUDA device, got '
        f"device='{device}'; pass --device cuda:0"
    )


def build_engine(
    onnx_path: str,
    engine_path: str,
    input_shapes: Dict[str, Dict[str, Shape]],
    fp16: bool = False,
    max_workspace_size: int = 1 << 30,
    device_id: int = 0,
) -> str:
    """Build and serialise a TensorRT 10+ engine from an ONNX file.

    Args:
        onnx_path (str): The exported model.
        engine_path (str): Where the serialised engine is written.
        input_shapes (dict): Per input ``min_shape`` / ``opt_shape`` /
            ``max_shape`` (see :func:`engine_input_shapes`).
        fp16 (bool): Allow fp16 kernels; normalization layers stay fp32.
        max_workspace_size (int): Workspace memory pool limit in bytes.
        device_id (int): CUDA device the engine is built for.

    Returns:
        str: ``engine_path``.

    Raises:
        RuntimeError: TensorRT missing, ONNX parse errors (listed) or a
            failed build.
    """
    trt = require_tensorrt()
    import torch

    torch.cuda.set_device(device_id)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch: TRT 10's only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(
            f'TensorRT could not parse {onnx_path}: ' + '; '.join(errors)
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(
        trt.MemoryPoolType.WORKSPACE, int(max_workspace_size)
    )
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        name = network.get_input(index).name
        if name not in input_shapes:
            raise RuntimeError(
                f'the deploy config gives no shapes for input {name!r}'
            )
        spec = input_shapes[name]
        profile.set_shape(
            name, spec['min_shape'], spec['opt_shape'], spec['max_shape']
        )
    config.add_optimization_profile(profile)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        layers = [network.get_layer(i) for i in range(network.num_layers)]
        keep = fp32_layer_indices([layer.type.name for layer in layers])
        for index in keep:
            layer = layers[index]
            layer.precision = trt.float32
            for output in range(layer.num_outputs):
                layer.set_output_type(output, trt.float32)
        print_log(
            f'fp16 engine: {len(keep)} normalization layers kept in fp32',
            'current',
        )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(
            f'TensorRT failed to build an engine from {onnx_path} (see the '
            'TensorRT log above)'
        )
    with open(engine_path, 'wb') as file:
        file.write(serialized)
    return engine_path


def build_engine_from_deploy_cfg(
    onnx_path: str, engine_path: str, deploy_cfg, device: str = 'cuda:0'
) -> str:
    """:func:`build_engine` with the settings of a TensorRT deploy config
    (``backend_config.common_config.fp16_mode`` / ``max_workspace_size``,
    ``backend_config.model_inputs``)."""
    common = deploy_cfg.get('backend_config', {}).get('common_config', {})
    return build_engine(
        onnx_path,
        engine_path,
        engine_input_shapes(deploy_cfg),
        fp16=bool(common.get('fp16_mode', False)),
        max_workspace_size=common.get('max_workspace_size', 1 << 30),
        device_id=cuda_device_id(device),
    )
