"""Function rewriters applied while mmdeploy traces dfine_mm models.

``FoldedReLUAffine`` (the backbone's ReLU + learnable affine after
``switch_to_deploy()``) clamps at a one-element tensor, which exports as an
elementwise ``Max``/``Min`` against a constant. ONNX Runtime's NCHWc
convolutions cannot absorb that: it converts the layout back and forth
around every such node. Exported with the bound as a number, the clamp is
a ``Clip``, which both ONNX Runtime and TensorRT fuse into the preceding
convolution.

``RepNCSPELAN4`` (the neck's fusion blocks) splits the output of its first
1x1 convolution in two halves and concatenates them again with the two
branch outputs. ONNX Runtime keeps ``Split`` in plain NCHW, so every block
converted its NCHWc layout out and back in around the ``Split`` and the
``Concat`` (5 conversions per block). Exported as two convolutions, one per
half (the same weights, sliced), both halves and the ``Concat`` stay NCHWc.

``StemBlock`` (the backbone's stem) pads its 320x320 maps (at 640 input)
with a zero row and column twice. ONNX Runtime runs ``Pad`` in plain NCHW
only: the first pad cost a layout conversion out, the pad and a conversion
back in. For ONNX
Runtime the stem exports the first pad as an identity depthwise 1x1
convolution with asymmetric padding (NCHWc, the same values) and folds the
second into ``stem2b``'s padding.

``DFineMSDeformableAttention`` computes its sampling grid in four
elementwise passes over (B, Q, M, P, 2) (point scale, box size, offset
scale, then ``2 * x - 1`` per level), transposes it to grid_sample's
(B * M, Q, P, 2), splits it by level and concatenates the level samples
again for the weighted sum. Exported, the constant factors sit in the
offset projection's weights, which run per head and level (a batched
``MatMul`` whose output is already laid out as the level's grid: no
``Transpose``, no ``Split``), the grid is one multiply-add with the box:
``(2 * centre - 1) + offsets' * size``, and the level samples are summed
level by level (no ``Concat``). The PyTorch module keeps the reference's
order of operations (the parity contract); the export differs from it by
float rounding only.

What each rewrite saved is in docs/benchmarks.md ("Export rewriters").
"""

from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdeploy.core import FUNCTION_REWRITER
from torch import Tensor, nn

# Imported now, not while mmdeploy patches functions: importing the model
# code inside a rewrite context (mmdet.models comes with it) upsets the
# rewriter's bookkeeping (KeyError on exit).
from ..models.layers import (  # noqa: F401
    dfine_ms_deform_attn,
    folded_relu_affine,
    rep_ncsp_elan,
)
from ..models.layers.rep_ncsp_elan import (
    conv1x1_upsampled_cat,
    upsampled_cat,
)
from ..models.necks import dfine_hybrid_encoder  # noqa: F401


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.folded_relu_affine.FoldedReLUAffine.forward'
)
def folded_relu_affine__forward(self, x: Tensor) -> Tensor:
    """Clamp at ``self.bound`` as a constant (exports as ``Clip``)."""
    bound = float(self.bound)
    return x.clamp(max=bound) if self.upper else x.clamp(min=bound)


def _cv1_halves(block):
    """The fused first convolution of a deployed ``RepNCSPELAN4``: (weight,
    bias) of each half of its outputs."""
    conv, half = block.cv1.conv_bn_fused, block.split_channels
    return [
        (conv.weight[start : start + half], conv.bias[start : start + half])
        for start in (0, half)
    ]


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.rep_ncsp_elan.RepNCSPELAN4.forward'
)
def rep_ncsp_elan4__forward(
    self, x: Tensor, finer: Optional[Tensor] = None
) -> Tensor:
    """The first 1x1 convolution as one convolution per half (deploy form;
    the training form exports unchanged)."""
    if not self.cv1.deployed:
        context = FUNCTION_REWRITER.get_context()
        return context.origin_func(self, x, finer)
    if finer is not None:
        x = upsampled_cat(x, finer)
    y0, y1 = (
        self.cv1.act(F.conv2d(x, weight, bias))
        for weight, bias in _cv1_halves(self)
    )
    return self.tail(y0, y1)


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.necks.dfine_hybrid_encoder.DFineHybridEncoder.'
    'fuse_top_down',
    backend='onnxruntime',
)
def dfine_hybrid_encoder__fuse_top_down__onnxruntime(
    self, block, top: Tensor, finer: Tensor
) -> Tensor:
    """``block(cat(upsample(top), finer))`` with ``block``'s first (1x1)
    convolution applied to ``top`` before the 2x nearest upsampling and
    added to its part of ``finer``, no ``Concat``, one convolution per half
    of its outputs (deploy form). The training form computes it so already
    (``RepNCSPELAN4.forward`` with ``finer``, one convolution per part) and
    exports unchanged; deployed, the module keeps the original's
    concatenation (the graph ``get_flops.py`` counts), which this replaces
    for ONNX Runtime: the same output up to float rounding."""
    if not block.cv1.deployed:
        context = FUNCTION_REWRITER.get_context()
        return context.origin_func(self, block, top, finer)
    halves = [
        block.cv1.act(conv1x1_upsampled_cat(weight, bias, top, finer))
        for weight, bias in _cv1_halves(block)
    ]
    return block.tail(*halves)


#: ONNX ``pads`` of a one-pixel right/bottom zero pad (begin h, begin w,
#: end h, end w)
_RIGHT_BOTTOM_PADS = [0, 0, 1, 1]


class _ZeroPadRightBottom(torch.autograd.Function):
    """``F.pad(x, (0, 1, 0, 1))``, exported as an identity depthwise 1x1
    ``Conv`` with ONNX pads (0, 0, 1, 1)."""

    @staticmethod
    def forward(ctx, x: Tensor, channels: int) -> Tensor:
        return F.pad(x, (0, 1, 0, 1))

    @staticmethod
    def symbolic(g, x, channels: int):
        ones = g.op('Constant', value_t=torch.ones(channels, 1, 1, 1))
        return g.op(
            'Conv',
            x,
            ones,
            group_i=channels,
            kernel_shape_i=[1, 1],
            pads_i=_RIGHT_BOTTOM_PADS,
            strides_i=[1, 1],
        )


class _Conv2dRightBottomPad(torch.autograd.Function):
    """``conv2d(x, weight, bias)`` (stride 1, one group), the input padded
    with a zero row and column on the right and bottom if ``pad``; exported
    as one ``Conv`` (ONNX pads (0, 0, 1, 1) if ``pad``). The kernel size is
    passed along: ``weight`` may be computed while tracing, and ONNX needs
    the kernel shape."""

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        weight: Tensor,
        bias: Tensor,
        kernel_size: Tuple[int, int],
        pad: bool,
    ) -> Tensor:
        if pad:
            x = F.pad(x, (0, 1, 0, 1))
        return F.conv2d(x, weight, bias)

    @staticmethod
    def symbolic(g, x, weight, bias, kernel_size, pad):
        return g.op(
            'Conv',
            x,
            weight,
            bias,
            kernel_shape_i=list(kernel_size),
            pads_i=_RIGHT_BOTTOM_PADS if pad else [0, 0, 0, 0],
            strides_i=[1, 1],
        )


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.hgnetv2_stem.StemBlock.forward',
    backend='onnxruntime',
)
def stem_block__forward__onnxruntime(self, x: Tensor) -> Tensor:
    """The stem with its zero pads as convolution padding, and ``stem2a``
    widened to ``stem2b``'s width with zero filters that ``stem2b``
    ignores (deploy form: ONNX Runtime keeps the layout NCHWc; the
    training form exports unchanged)."""
    conv_a, conv_b = self.stem2a.conv, self.stem2b.conv
    if self.stem2a.bn is not None or self.stem2b.bn is not None:
        context = FUNCTION_REWRITER.get_context()
        return context.origin_func(self, x)
    x = self.stem1(x)
    x = _ZeroPadRightBottom.apply(x, self.stem1.conv.out_channels)
    extra = conv_b.out_channels - conv_a.out_channels
    weight_a = F.pad(conv_a.weight, (0, 0, 0, 0, 0, 0, 0, extra))
    bias_a = F.pad(conv_a.bias, (0, extra))
    branch = self.stem2a.act(
        _Conv2dRightBottomPad.apply(
            x, weight_a, bias_a, conv_a.kernel_size, False
        )
    )
    weight_b = F.pad(conv_b.weight, (0, 0, 0, 0, 0, extra))
    branch = self.stem2b.act(
        _Conv2dRightBottomPad.apply(
            branch, weight_b, conv_b.bias, conv_b.kernel_size, True
        )
    )
    x = torch.cat([self.pool(x), branch], dim=1)
    return self.stem4(self.stem3(x))


def _per_head_projection(
    linear: nn.Linear, heads: int, factor: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    """``linear``'s weight as (M, C, K) and bias as (M, 1, K), one matrix
    per head (output rows grouped by head), scaled row-wise by ``factor``:
    ``query[:, None] @ weight + bias`` gives (B, M, Q, K) directly."""
    weight, bias = linear.weight, linear.bias
    if factor is not None:
        weight, bias = weight * factor[:, None], bias * factor
    channels = weight.shape[1]
    weight = weight.view(heads, -1, channels).transpose(1, 2)
    return weight, bias.view(heads, 1, -1)


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.dfine_ms_deform_attn.'
    'DFineMSDeformableAttention.forward'
)
def dfine_ms_deformable_attention__forward(
    self,
    query: Tensor,
    reference_points: Tensor,
    value: Union[Tensor, Sequence[Tensor]],
    spatial_shapes: Sequence[Tuple[int, int]],
) -> Tensor:
    """Bilinear deformable attention with per-head projections and the
    grid as one multiply-add per level (shapes as
    ``DFineMSDeformableAttention.forward``)."""
    if self.method != 'default':
        context = FUNCTION_REWRITER.get_context()
        return context.origin_func(
            self, query, reference_points, value, spatial_shapes
        )
    if isinstance(value, Tensor):
        value = self.split_value(value, spatial_shapes)
    batch, num_queries, _ = query.shape
    heads, points = self.num_heads, sum(self.num_points)
    # grid = 2 * (centre + offsets * point_scale * size * offset_scale) - 1
    # with the constant factors folded into the projection, one matrix per
    # head and level: (B, 1, Q, C) @ (M, C, 2 * P_l) is already laid out
    # as grid_sample's (B * M, Q, P_l, xy), no transpose or split
    factor = 2 * self.offset_scale * self.num_points_scale.to(query.dtype)
    factor = factor[None, :, None].expand(heads, points, 2).flatten()
    offset_weight, offset_bias = _per_head_projection(
        self.sampling_offsets, heads, factor
    )
    rows = query[:, None]  # (B, 1, Q, C)
    centre = reference_points[:, None, :, :2] * 2 - 1  # (B, 1, Q, 2)
    size = reference_points[:, None, :, 2:]
    attn_weight, attn_bias = _per_head_projection(
        self.attention_weights, heads
    )
    weights = (torch.matmul(rows, attn_weight) + attn_bias).softmax(-1)
    weights = weights.reshape(batch * heads, 1, num_queries, points)
    out, start = None, 0
    for level_value, level_points in zip(value, self.num_points):
        columns = slice(2 * start, 2 * (start + level_points))
        offsets = torch.matmul(rows, offset_weight[..., columns])
        offsets = offsets + offset_bias[..., columns]
        grid = torch.addcmul(
            centre.repeat(1, 1, 1, level_points),
            offsets,
            size.repeat(1, 1, 1, level_points),
        ).reshape(batch * heads, num_queries, level_points, 2)
        # (B * M, C / M, Q, P_l) weighted over P_l, level by level (no
        # concatenation of the samples)
        samples = self.bilinear_samples(level_value, grid)
        level_weights = weights[..., start : start + level_points]
        level_out = (samples * level_weights).sum(-1)
        out = level_out if out is None else out + level_out
        start += level_points
    return out.view(batch, self.embed_dims, num_queries).transpose(1, 2)
