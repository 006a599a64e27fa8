"""Conv + BatchNorm (+ activation) brick of the D-FINE hybrid encoder.

Re-implemented from the description of ``ConvNormLayer_fuse`` in D-FINE
(https://github.com/Peterande/D-FINE, Apache-2.0). The sub-module names
(``conv``, ``norm`` and, after :meth:`ConvNormLayer.switch_to_deploy`,
``conv_bn_fused``) equal the official ones, so official checkpoints load
without renaming.
"""

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmdet.utils import OptConfigType
from torch import Tensor, nn


def fuse_conv_bn(
    conv_weight: Tensor, norm: nn.BatchNorm2d
) -> Tuple[Tensor, Tensor]:
    """Fold an eval-mode BatchNorm into the bias-free conv before it.

    ``norm(conv(x))`` equals ``conv'(x)`` with ``conv'`` using the returned
    weight and bias: ``w' = w * s`` and ``b' = beta - mean * s`` with
    ``s = gamma / sqrt(running_var + eps)``.

    Args:
        conv_weight (Tensor): Conv kernel, shape (out, in / groups, k, k).
        norm (nn.BatchNorm2d): The BatchNorm that follows the conv; its
            running statistics are used.

    Returns:
        tuple[Tensor, Tensor]: The fused kernel, shape (out, in / groups,
        k, k), and the fused bias, shape (out,).
    """
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    weight = conv_weight * scale.reshape(-1, 1, 1, 1)
    bias = norm.bias - norm.running_mean * scale
    return weight, bias


def centred_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    groups: int = 1,
) -> nn.Conv2d:
    """A bias-free conv padded by ``(kernel_size - 1) // 2`` on every side,
    the conv of both D-FINE's Conv-BN bricks (:class:`ConvNormLayer`, and
    HGNetV2's ``ConvBNAct``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size.
        stride (int): Stride. Defaults to 1.
        groups (int): Groups. Defaults to 1.

    Returns:
        nn.Conv2d: The new conv.
    """
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=(kernel_size - 1) // 2,
        groups=groups,
        bias=False,
    )


def conv_like(conv: nn.Conv2d, weight: Tensor, bias: Tensor) -> nn.Conv2d:
    """A new biased ``nn.Conv2d`` with ``conv``'s stride, padding and
    groups (and its weight's device and dtype) holding ``weight`` and
    ``bias``: the deploy form of a conv whose norm was folded in.

    Args:
        conv (nn.Conv2d): The conv whose geometry is kept.
        weight (Tensor): Kernel, shape (out, in / groups, k, k).
        bias (Tensor): Bias, shape (out,).

    Returns:
        nn.Conv2d: The new conv (``weight.shape[2:]`` its kernel size).
    """
    out_channels, in_per_group, *kernel_size = weight.shape
    fused = nn.Conv2d(
        in_per_group * conv.groups,
        out_channels,
        tuple(kernel_size),
        stride=conv.stride,
        padding=conv.padding,
        groups=conv.groups,
        bias=True,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
    return fused


def conv_of_cat(conv: nn.Conv2d, parts: Sequence[Tensor]) -> Tensor:
    """``conv(torch.cat(parts, dim=1))`` without the concatenation: the
    sum of each part convolved with its slice of the kernel.

    The same function up to float rounding. Neither the concatenated map
    nor, in the backward, the slices of its gradient (strided maps) are
    made; each part gets a dense gradient from its own convolution
    (measured in docs/benchmarks.md).

    Args:
        conv (nn.Conv2d): A bias-free, one-group convolution with zero
            padding.
        parts (Sequence[Tensor]): Shapes (B, C_i, H, W), whose C_i add up
            to ``conv.in_channels``.

    Returns:
        Tensor: Shape (B, conv.out_channels, H', W').
    """
    if (
        conv.groups != 1
        or conv.bias is not None
        or conv.padding_mode != 'zeros'
    ):
        raise ValueError(
            'conv_of_cat needs a bias-free one-group conv with zero '
            f'padding, got {conv}; convolve torch.cat(parts, 1) instead'
        )
    channels = [part.shape[1] for part in parts]
    if sum(channels) != conv.in_channels:
        raise ValueError(
            f'the parts have {channels} channels, {sum(channels)} in all; '
            f'the conv takes {conv.in_channels}'
        )
    out, start = None, 0
    for part, num in zip(parts, channels):
        kernel = conv.weight[:, start : start + num]
        start += num
        y = F.conv2d(part, kernel, None, conv.stride, conv.padding,
                     conv.dilation)  # fmt: skip
        # in place: a convolution's backward does not read its output
        out = y if out is None else out.add_(y)
    return out


class ConvNormLayer(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> optional activation.

    Padding is ``(kernel_size - 1) // 2``. :meth:`switch_to_deploy` folds
    the BatchNorm into a biased conv named ``conv_bn_fused``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size.
        stride (int): Conv stride. Defaults to 1.
        groups (int): Conv groups. Defaults to 1.
        act_cfg (:obj:`ConfigDict` or dict, optional): Activation config
            for mmcv's ``build_activation_layer``; None means no
            activation. Defaults to None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act_cfg: OptConfigType = None,
    ) -> None:
        super().__init__()
        self.conv = centred_conv(
            in_channels, out_channels, kernel_size, stride, groups
        )
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = (
            nn.Identity()
            if act_cfg is None
            else build_activation_layer(act_cfg)
        )
        self.deployed = False

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x (Tensor): Input, shape (B, in_channels, H, W).

        Returns:
            Tensor: Output, shape (B, out_channels, H', W').
        """
        conv = self.conv_bn_fused if self.deployed else self.conv
        return self.norm_act(conv(x))

    def norm_act(self, x: Tensor) -> Tensor:
        """The layer after its convolution: norm and activation (before
        :meth:`switch_to_deploy`; the norm is in the fused conv after it).

        Args:
            x (Tensor): The convolution's output, shape (B, out_channels,
                H, W).

        Returns:
            Tensor: Output, the same shape.
        """
        if self.deployed:
            return self.act(x)
        return self.act(self.norm(x))

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Replace ``conv`` + ``norm`` by one biased conv ``conv_bn_fused``.

        Uses the BatchNorm running statistics, so the result equals the
        eval-mode output. Calling it again does nothing.
        """
        if self.deployed:
            return
        fused = conv_like(
            self.conv, *fuse_conv_bn(self.conv.weight, self.norm)
        )
        del self.conv
        del self.norm
        self.conv_bn_fused = fused
        self.deployed = True
