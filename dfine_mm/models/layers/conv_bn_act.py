"""HGNetV2's convolution brick: Conv2d -> BatchNorm2d -> ReLU -> learnable
affine block.

Written after the behaviour of ``ConvBNAct`` in ``src/nn/backbone/
hgnetv2.py`` of the official D-FINE repo (https://github.com/Peterande/
D-FINE, Apache-2.0), whose module names (``conv``, ``bn``, ``lab``) are kept
so that official checkpoints load without renaming.

Differences from upstream (none changes an output):

* Modules that the official code sets to ``nn.Identity`` (the activation and
  the learnable affine block of a conv without activation) are ``None`` here
  and skipped in ``forward``.
* ReLU runs in place, the learnable affine block is one fused ``addcmul``;
  under autograd both (with the batch norm before them, training on the
  CPU) are one node with a leaner backward (``learnable_affine_block.py``).
* The ``'same'`` padding option of upstream (dead code) is not ported.
"""

import torch
from torch import Tensor, nn

from ..utils.module_hooks import runs_hooks
from .conv_norm_layer import centred_conv, conv_like, fuse_conv_bn
from .folded_relu_affine import FoldedReLUAffine
from .frozen_batch_norm import FrozenBatchNorm2d
from .learnable_affine_block import (
    LearnableAffineBlock,
    norm_relu_affine,
    relu_affine,
)


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
        self.conv = centred_conv(
            in_channels, out_channels, kernel_size, stride, groups
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
        fused = conv_like(self.conv, *fuse_conv_bn(self.conv.weight, self.bn))
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
        """Args:
            x (Tensor): Shape (B, in_channels, H, W).

        Returns:
            Tensor: Shape (B, out_channels, H / stride, W / stride)
            (rounded as the convolution does).
        """
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
