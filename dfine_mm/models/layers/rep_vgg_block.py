"""RepVGG-style block (3x3 and 1x1 branches, no identity branch).

Re-implemented from the description of ``VGGBlock`` in D-FINE
(https://github.com/Peterande/D-FINE, Apache-2.0); the idea is from
RepVGG (https://arxiv.org/abs/2101.03697). Sub-module names equal the
official ones: ``conv1`` / ``conv2`` in training form, ``conv`` after
:meth:`RepVGGBlock.switch_to_deploy`.
"""

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from .conv_norm_layer import ConvNormLayer, conv_like, fuse_conv_bn


class RepVGGBlock(nn.Module):
    """``act(BN(conv3x3(x)) + BN(conv1x1(x)))``, re-parameterizable.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        act_cfg (:obj:`ConfigDict` or dict, optional): Activation applied
            to the sum of both branches (D-FINE: SiLU); None means none.
            Defaults to None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        act_cfg: OptConfigType = None,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormLayer(in_channels, out_channels, 3)
        self.conv2 = ConvNormLayer(in_channels, out_channels, 1)
        self.act = (
            nn.Identity()
            if act_cfg is None
            else build_activation_layer(act_cfg)
        )
        self.deployed = False

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): Input, shape (B, in_channels, H, W).

        Returns:
            Tensor: Output, shape (B, out_channels, H, W).
        """
        if self.deployed:
            return self.act(self.conv(x))
        return self.act(self.conv1(x) + self.conv2(x))

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Merge both branches into one biased 3x3 conv named ``conv``.

        The 1x1 kernel is zero-padded to 3x3 and added to the 3x3 kernel
        after both BatchNorms are folded in. Calling it again does nothing.
        """
        if self.deployed:
            return
        weight3, bias3 = fuse_conv_bn(self.conv1.conv.weight, self.conv1.norm)
        weight1, bias1 = fuse_conv_bn(self.conv2.conv.weight, self.conv2.norm)
        conv = conv_like(
            self.conv1.conv,
            weight3 + F.pad(weight1, [1, 1, 1, 1]),
            bias3 + bias1,
        )
        del self.conv1
        del self.conv2
        self.conv = conv
        self.deployed = True
