"""Building blocks of the PP-HGNetV2 backbone, as used by D-FINE.

Written after the behaviour of ``src/nn/backbone/hgnetv2.py`` in the official
D-FINE repo (https://github.com/Peterande/D-FINE, Apache-2.0), whose module
names are kept so that official checkpoints load without renaming:
``conv``, ``bn``, ``lab``, ``conv1``/``conv2``, ``stem1`` ... ``stem4``,
``downsample``, ``blocks``, ``layers``, ``aggregation``.

Differences from upstream (none changes an output):

* Modules that the official code sets to ``nn.Identity`` (the activation and
  the learnable affine block of a conv without activation, the downsample of
  the first stage) are ``None`` here and skipped in ``forward``.
* ReLU runs in place, the learnable affine block is one fused ``addcmul``;
  under autograd both (with the batch norm before them, training on the
  CPU) are one node with a leaner backward (``learnable_affine_block.py``).
* The dead code paths of upstream (the ``'same'`` padding option, the
  ``'ese'`` aggregation, drop path) are not ported.
"""

import torch
from torch import Tensor, nn

from ..utils.module_hooks import runs_hooks
from .conv_norm_layer import fuse_conv_bn
from .frozen_batch_norm import FrozenBatchNorm2d
from .learnable_affine_block import (
    LearnableAffineBlock,
    norm_relu_affine,
    relu_affine,
)


class FoldedReLUAffine(nn.Module):
    """``relu`` followed by a learnable affine block, after the affine
    scale has been folded into the preceding conv: a clamp at the shift.

    Args:
        bound (Tensor): The affine shift b, shape (1,).
        upper (bool): The folded scale was negative: clamp from above.
    """

    def __init__(self, bound: Tensor, upper: bool = False) -> None:
        super().__init__()
        self.register_buffer('bound', bound.detach().clone())
        self.upper = upper

    def forward(self, x: Tensor) -> Tensor:
        if self.upper:
            return torch.clamp_max_(x, self.bound)
        return torch.clamp_min_(x, self.bound)


class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> optional ReLU -> optional LAB.

    The padding is ``(kernel_size - 1) // 2`` on every side, hence none for
    the 2x2 convs of the stem. The learnable affine block (LAB) only exists
    when the conv is activated: ``use_lab`` is ignored when ``use_act`` is
    False, as upstream.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size.
        stride (int): Convolution stride. Defaults to 1.
        groups (int): Convolution groups. Defaults to 1.
        use_act (bool): Apply ReLU after the norm. Defaults to True.
        use_lab (bool): Apply a learnable affine block after the ReLU.
            Defaults to False.
        freeze_norm (bool): Use :class:`FrozenBatchNorm2d` instead of
            ``nn.BatchNorm2d``. Defaults to False.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        use_act: bool = True,
        use_lab: bool = False,
        freeze_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        )
        norm_layer = FrozenBatchNorm2d if freeze_norm else nn.BatchNorm2d
        self.bn = norm_layer(out_channels)
        self.act = nn.ReLU(inplace=True) if use_act else None
        self.lab = LearnableAffineBlock() if use_act and use_lab else None

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold the (eval-mode) norm into the conv: ``conv`` gains a bias,
        ``bn`` goes away. Same outputs, one memory pass less."""
        if self.bn is None:
            return
        weight, bias = fuse_conv_bn(self.conv.weight, self.bn)
        conv = self.conv
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            groups=conv.groups,
            bias=True,
        ).to(weight)
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
        self.conv, self.bn = fused, None
        if self.lab is not None and self.act is not None:
            # s * relu(c) + b == clamp_min(s * c + b, b) for s > 0 (and
            # clamp_max for s < 0): scale the conv, one clamp replaces
            # ReLU + affine.
            scale, shift = self.lab.scale, self.lab.bias
            fused.weight.mul_(scale)
            fused.bias.mul_(scale).add_(shift)
            self.act = FoldedReLUAffine(shift, upper=bool(scale < 0))
            self.lab = None

    @property
    def fuses_norm(self) -> bool:
        """Whether training may run norm, ReLU and LAB as one autograd node
        (:func:`norm_relu_affine`, which lays out the norm output's gradient
        itself)."""
        return (
            self.lab is not None
            and isinstance(self.act, nn.ReLU)
            and type(self.bn) is nn.BatchNorm2d
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.norm_act(self.conv(x))

    def norm_act(self, x: Tensor) -> Tensor:
        """The brick after its convolution: norm (none after
        :meth:`switch_to_deploy`), ReLU and LAB, as each exists. ReLU and
        LAB run as one autograd node (with the norm where
        :func:`norm_relu_affine` can) unless calling ``act`` or ``lab``
        would run a hook; then the modules are called.

        Args:
            x (Tensor): The convolution's output, shape (B, C, H, W).

        Returns:
            Tensor: Shape (B, C, H, W).
        """
        if (
            self.lab is not None
            and isinstance(self.act, nn.ReLU)
            and not runs_hooks(self.act, self.lab)
        ):
            # one autograd node: a leaner backward (learnable_affine_block.py)
            scale, bias = self.lab.scale, self.lab.bias
            if self.bn is not None:
                return norm_relu_affine(x, self.bn, scale, bias)
            return relu_affine(x, scale, bias)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        if self.lab is not None:
            x = self.lab(x)
        return x


class LightConvBNAct(nn.Module):
    """A 1x1 conv without activation, then an activated depthwise conv.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (also the depthwise groups).
        kernel_size (int): Kernel size of the depthwise conv.
        use_lab (bool): LAB after the depthwise conv (the 1x1 conv never has
            one). Defaults to False.
        freeze_norm (bool): Use frozen norms. Defaults to False.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        use_lab: bool = False,
        freeze_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(
            in_channels,
            out_channels,
            1,
            use_act=False,
            freeze_norm=freeze_norm,
        )
        self.conv2 = ConvBNAct(
            out_channels,
            out_channels,
            kernel_size,
            groups=out_channels,
            use_lab=use_lab,
            freeze_norm=freeze_norm,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


class HGBlock(nn.Module):
    """One HG block: a chain of convs, concatenation and a 2-conv squeeze.

    ``layer_num`` convs run one after the other (the first ``in -> mid``,
    the others ``mid -> mid``); the block input and all their outputs are
    concatenated (``in + layer_num * mid`` channels) and aggregated by a
    1x1 conv to ``out // 2`` and a 1x1 conv to ``out`` (upstream's ``'se'``
    aggregation, ``aggregation.0`` and ``aggregation.1``). The block input
    is added to the result when ``residual``.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Output channels of each conv of the chain.
        out_channels (int): Output channels.
        layer_num (int): Number of convs in the chain.
        kernel_size (int): Kernel size of the chain convs.
        residual (bool): Add the block input to the output. Defaults to
            False.
        light_block (bool): Use :class:`LightConvBNAct` (1x1 + depthwise)
            for the chain instead of a full conv. Defaults to False.
        use_lab (bool): LAB after every activated conv. Defaults to False.
        freeze_norm (bool): Use frozen norms. Defaults to False.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        layer_num: int,
        kernel_size: int,
        residual: bool = False,
        light_block: bool = False,
        use_lab: bool = False,
        freeze_norm: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        cfg = dict(use_lab=use_lab, freeze_norm=freeze_norm)
        layer_type = LightConvBNAct if light_block else ConvBNAct
        self.layers = nn.ModuleList(
            layer_type(
                in_channels if i == 0 else mid_channels,
                mid_channels,
                kernel_size,
                **cfg,
            )
            for i in range(layer_num)
        )
        total_channels = in_channels + layer_num * mid_channels
        self.aggregation = nn.Sequential(
            ConvBNAct(total_channels, out_channels // 2, 1, **cfg),
            ConvBNAct(out_channels // 2, out_channels, 1, **cfg),
        )

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        y = x
        for layer in self.layers:
            y = layer(y)
            features.append(y)
        y = self.aggregation(torch.cat(features, dim=1))
        if self.residual:
            y = y + x
        return y


class HGStage(nn.Module):
    """An optional depthwise stride-2 downsample followed by HG blocks.

    The downsample is a 3x3 depthwise conv on ``in_channels`` without
    activation (hence without LAB). The first block maps ``in -> out`` and
    has no residual; the others map ``out -> out`` with a residual.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Chain channels of the blocks.
        out_channels (int): Output channels.
        num_blocks (int): Number of HG blocks.
        downsample (bool): Halve the resolution first.
        light_block (bool): Blocks use light (1x1 + depthwise) convs.
        kernel_size (int): Kernel size of the block convs.
        layer_num (int): Convs per block.
        use_lab (bool): LAB after every activated conv. Defaults to False.
        freeze_norm (bool): Use frozen norms. Defaults to False.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        num_blocks: int,
        downsample: bool,
        light_block: bool,
        kernel_size: int,
        layer_num: int,
        use_lab: bool = False,
        freeze_norm: bool = False,
    ) -> None:
        super().__init__()
        self.downsample = (
            ConvBNAct(
                in_channels,
                in_channels,
                3,
                stride=2,
                groups=in_channels,
                use_act=False,
                freeze_norm=freeze_norm,
            )
            if downsample
            else None
        )
        self.blocks = nn.Sequential(
            *(
                HGBlock(
                    in_channels if i == 0 else out_channels,
                    mid_channels,
                    out_channels,
                    layer_num,
                    kernel_size,
                    residual=i > 0,
                    light_block=light_block,
                    use_lab=use_lab,
                    freeze_norm=freeze_norm,
                )
                for i in range(num_blocks)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.downsample is not None:
            x = self.downsample(x)
        return self.blocks(x)


def __getattr__(name: str) -> type:
    """``StemBlock`` moved to ``hgnetv2_stem.py`` (which imports this
    module's bricks); it stays importable from here."""
    if name == 'StemBlock':
        from .hgnetv2_stem import StemBlock

        return StemBlock
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
