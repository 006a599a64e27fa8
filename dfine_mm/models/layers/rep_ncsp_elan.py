"""RepNCSPELAN4: the FPN / PAN fusion block of the D-FINE hybrid encoder.

Re-implemented from the description of ``RepNCSPELAN4`` in D-FINE
(https://github.com/Peterande/D-FINE, Apache-2.0; the block comes from
YOLOv9's GELAN). Sub-module names (``cv1`` .. ``cv4``, ``cv2.0`` /
``cv2.1``, ``cv3.0`` / ``cv3.1``) equal the official ones so official
checkpoints load without renaming.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from ..utils.memory_format import dense_channels_last
from ..utils.module_hooks import runs_hooks
from .conv_norm_layer import ConvNormLayer
from .csp_rep_layer import CSPRepLayer


class RepNCSPELAN4(nn.Module):
    """CSP-ELAN block with two chained CSP + 3x3 conv branches.

    Data flow (``c = mid_channels // 2``, ``b = branch_channels``)::

        x --cv1 (1x1)--> [y0 | y1]            (c channels each)
        y2 = cv2(y1)     CSPRepLayer(c -> b) then 3x3 Conv-BN-act
        y3 = cv3(y2)     CSPRepLayer(b -> b) then 3x3 Conv-BN-act
        out = cv4(cat[y0, y1, y2, y3])        1x1, 2c + 2b -> out

    Args:
        in_channels (int): Input channels (D-FINE: 2 * hidden_dim).
        out_channels (int): Output channels (D-FINE: hidden_dim).
        mid_channels (int): Output channels of ``cv1``, split in two equal
            halves; must be even (D-FINE: 2 * hidden_dim).
        branch_channels (int): Width of the two CSP branches (D-FINE:
            ``round(expansion * hidden_dim // 2)``).
        num_blocks (int): RepVGG bottlenecks per CSP layer. Defaults to 3.
        act_cfg (:obj:`ConfigDict` or dict, optional): Activation of every
            conv (D-FINE: SiLU); None means none. Defaults to None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        branch_channels: int,
        num_blocks: int = 3,
        act_cfg: OptConfigType = None,
    ) -> None:
        super().__init__()
        if mid_channels % 2:
            raise ValueError(
                f'mid_channels must be even (it is split in two halves), '
                f'got {mid_channels}'
            )
        self.split_channels = mid_channels // 2
        self.cv1 = ConvNormLayer(in_channels, mid_channels, 1, act_cfg=act_cfg)
        self.cv2 = nn.Sequential(
            CSPRepLayer(
                self.split_channels,
                branch_channels,
                num_blocks,
                act_cfg=act_cfg,
            ),
            ConvNormLayer(
                branch_channels, branch_channels, 3, act_cfg=act_cfg
            ),
        )
        self.cv3 = nn.Sequential(
            CSPRepLayer(
                branch_channels, branch_channels, num_blocks, act_cfg=act_cfg
            ),
            ConvNormLayer(
                branch_channels, branch_channels, 3, act_cfg=act_cfg
            ),
        )
        self.cv4 = ConvNormLayer(
            mid_channels + 2 * branch_channels,
            out_channels,
            1,
            act_cfg=act_cfg,
        )

    def forward(self, x: Tensor, finer: Optional[Tensor] = None) -> Tensor:
        """Apply the block to ``x``, or, with ``finer``, to
        ``cat(upsample(x), finer)`` (``upsample`` the 2x nearest
        upsampling: the FPN's fusion) without making either map.

        With ``finer``, ``cv1``'s 1x1 convolution is applied to each part
        with its slice of the kernel, to ``x`` before the upsampling (a 1x1
        convolution commutes with it), and the two are added
        (:func:`conv1x1_upsampled_cat`): the same function up to float
        rounding, with a quarter of the multiply-adds for ``x``'s part
        (its saving in a CPU training step: docs/benchmarks.md).
        After ``cv1.switch_to_deploy()`` the concatenation is made, as in
        the original's deploy graph (the one ``get_flops.py`` counts), and
        so it is when calling ``cv1`` or its conv would run a hook
        (:func:`~dfine_mm.models.utils.module_hooks.runs_hooks`).

        Args:
            x (Tensor): Input, shape (B, in_channels, H, W); with
                ``finer``, the coarse map, shape (B, C, H / 2, W / 2).
            finer (Tensor, optional): Fine map, shape
                (B, in_channels - C, H, W). Defaults to None.

        Returns:
            Tensor: Output, shape (B, out_channels, H, W).
        """
        if finer is None:
            y = self.cv1(x)
        elif self.cv1.deployed or runs_hooks(self.cv1, self.cv1.conv):
            y = self.cv1(upsampled_cat(x, finer))
        else:
            weight = self.cv1.conv.weight
            y = self.cv1.norm_act(
                conv1x1_upsampled_cat(weight, None, x, finer)
            )
        y0, y1 = y.split(self.split_channels, dim=1)
        return self.tail(y0, y1)

    def tail(self, y0: Tensor, y1: Tensor) -> Tensor:
        """The block after ``cv1``, from the two halves of its output.

        Args:
            y0 (Tensor): First half, shape (B, mid_channels / 2, H, W).
            y1 (Tensor): Second half, shape (B, mid_channels / 2, H, W).

        Returns:
            Tensor: Output, shape (B, out_channels, H, W).
        """
        # y1 is a channel slice: strided in channels-last training
        y2 = self.cv2(dense_channels_last(y1))
        y3 = self.cv3(y2)
        return self.cv4(torch.cat((y0, y1, y2, y3), dim=1))


def upsampled_cat(top: Tensor, finer: Tensor) -> Tensor:
    """``cat(upsample(top), finer)`` along channels, ``upsample`` the 2x
    nearest upsampling.

    Args:
        top (Tensor): Coarse map, shape (B, C, H, W).
        finer (Tensor): Fine map, shape (B, C', 2H, 2W).

    Returns:
        Tensor: Shape (B, C + C', 2H, 2W).
    """
    upsampled = F.interpolate(top, scale_factor=2.0, mode='nearest')
    return torch.cat((upsampled, finer), dim=1)


def conv1x1_upsampled_cat(
    weight: Tensor, bias: Optional[Tensor], top: Tensor, finer: Tensor
) -> Tensor:
    """A 1x1 convolution of ``cat(upsample(top), finer)`` (``upsample`` the
    2x nearest upsampling) as ``upsample(conv(top)) + conv(finer)``, each
    part convolved with its slice of ``weight``.

    Args:
        weight (Tensor): Kernel, shape (out, C + C', 1, 1).
        bias (Tensor, optional): Bias, shape (out,), or None.
        top (Tensor): Coarse map, shape (B, C, H, W).
        finer (Tensor): Fine map, shape (B, C', 2H, 2W).

    Returns:
        Tensor: Shape (B, out, 2H, 2W).
    """
    split = top.shape[1]
    coarse = F.conv2d(top, weight[:, :split])
    fine = F.conv2d(finer, weight[:, split:], bias)
    upsampled = F.interpolate(coarse, scale_factor=2.0, mode='nearest')
    return upsampled + fine
