"""Symbolics that keep dfine_mm exports inside the standard ONNX domain.

mmdeploy 1.3.1 exports ``grid_sample`` as its custom
``mmdeploy::grid_sampler`` (TensorRT then needs mmdeploy's plugin library,
built for TensorRT 8) and decomposes ``layer_norm`` into ReduceMean / Pow /
Sqrt / Div, which TensorRT's fp16 mode runs in fp16 (the known accuracy
collapse of D-FINE-family models). For the ONNX Runtime and TensorRT
backends dfine_mm registers backend-specific symbolics, which mmdeploy
prefers over its default ones:

* ``grid_sampler`` -> ``GridSample`` (opset >= 16);
* ``layer_norm`` -> ``LayerNormalization`` (opset >= 17; below that,
  mmdeploy's decomposition);
* ``dropout`` -> nothing. torch's ``multi_head_attention_forward`` calls
  dropout with ``p=0`` and ``training=True`` in eval mode, which exports as
  a ``Dropout`` node in training mode; TensorRT refuses those. Exported
  graphs are inference graphs, where dropout is the identity.
"""

from mmdeploy.core import SYMBOLIC_REWRITER
from mmdeploy.pytorch.symbolics.layer_norm import layer_norm__default

from .onnx_exporter import LAYER_NORM_OPSET, MIN_OPSET

#: backends whose exports use the standard operators
STANDARD_OP_BACKENDS = ('onnxruntime', 'tensorrt', 'openvino')

# aten enums of grid_sampler -> ONNX attribute values
_GRID_MODES = ('bilinear', 'nearest', 'bicubic')
_GRID_MODES_OPSET20 = ('linear', 'nearest', 'cubic')
_GRID_PADDINGS = ('zeros', 'border', 'reflection')


def grid_sample_symbolic(
    g, input, grid, mode: int, padding_mode: int, align_corners: bool
):
    """``aten::grid_sampler`` (4-D input) as ONNX ``GridSample``.

    Args:
        g: The TorchScript graph context.
        input: (N, C, H, W) value.
        grid: (N, H_out, W_out, 2) sampling locations in [-1, 1].
        mode (int): aten interpolation enum (0 bilinear, 1 nearest,
            2 bicubic).
        padding_mode (int): aten padding enum (0 zeros, 1 border,
            2 reflection).
        align_corners (bool): As in ``F.grid_sample``.

    Raises:
        ValueError: Opset below 16.
    """
    opset = g.opset
    if opset < MIN_OPSET:
        raise ValueError(
            f'grid_sample needs ONNX opset >= {MIN_OPSET} (GridSample), '
            f'the export uses {opset}; set onnx_config.opset_version='
            f'{LAYER_NORM_OPSET}'
        )
    modes = _GRID_MODES_OPSET20 if opset >= 20 else _GRID_MODES
    return g.op(
        'GridSample',
        input,
        grid,
        align_corners_i=int(align_corners),
        mode_s=modes[mode],
        padding_mode_s=_GRID_PADDINGS[padding_mode],
    )


def layer_norm_symbolic(
    g, input, normalized_shape, weight, bias, eps: float, cudnn_enable
):
    """``aten::layer_norm`` as ONNX ``LayerNormalization`` (opset >= 17).

    Normalises over the last ``len(normalized_shape)`` axes; weight and
    bias must be given (every layer norm in dfine_mm has them). Below
    opset 17, mmdeploy's decomposition is used.
    """
    if g.opset < LAYER_NORM_OPSET:
        return layer_norm__default(
            g, input, normalized_shape, weight, bias, eps, cudnn_enable
        )
    from torch.onnx import symbolic_helper

    if symbolic_helper._is_none(weight) or symbolic_helper._is_none(bias):
        raise ValueError(
            'LayerNormalization export expects an affine layer norm '
            '(elementwise_affine=True)'
        )
    return g.op(
        'LayerNormalization',
        input,
        weight,
        bias,
        axis_i=-len(normalized_shape),
        epsilon_f=eps,
    )


def dropout_symbolic(g, input, p: float, train: bool):
    """``aten::dropout`` in an inference graph: the identity."""
    return input


for _backend in STANDARD_OP_BACKENDS:
    SYMBOLIC_REWRITER.register_symbolic(
        'dropout',
        backend=_backend,
        is_pytorch=True,
        arg_descriptors=['v', 'f', 'b'],
    )(dropout_symbolic)
    SYMBOLIC_REWRITER.register_symbolic(
        'grid_sampler',
        backend=_backend,
        is_pytorch=True,
        arg_descriptors=['v', 'v', 'i', 'i', 'b'],
    )(grid_sample_symbolic)
    SYMBOLIC_REWRITER.register_symbolic(
        'layer_norm',
        backend=_backend,
        is_pytorch=True,
        arg_descriptors=['v', 'is', 'v', 'v', 'f', 'i'],
    )(layer_norm_symbolic)
