"""The stride-4 stem of PP-HGNetV2, as used by D-FINE.

Written after the behaviour of ``StemBlock`` in ``src/nn/backbone/
hgnetv2.py`` of the official D-FINE repo (https://github.com/Peterande/
D-FINE, Apache-2.0); the module names (``stem1`` ... ``stem4``, ``pool``)
are kept so that official checkpoints load without renaming. Before
``switch_to_deploy`` the concatenation of the two branches is not made:
``stem3`` convolves each branch with its slice of the kernel
(:func:`conv_of_cat`), the same function up to float rounding, unless
calling ``stem3`` or its conv would run a hook (then they are called).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..utils.module_hooks import runs_hooks
from .conv_bn_act import ConvBNAct
from .conv_norm_layer import conv_of_cat


class StemBlock(nn.Module):
    """The stride-4 stem of HGNetV2.

    ``stem1`` (3x3, stride 2) is followed by a one-pixel zero pad on the
    right and bottom, then two branches whose outputs are concatenated as
    ``[pool branch, conv branch]``: a 2x2 stride-1 max-pool, and ``stem2a``
    (2x2) -> right/bottom zero pad -> ``stem2b`` (2x2). ``stem3`` (3x3,
    stride 2) and ``stem4`` (1x1) finish. Every conv is activated.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Channels inside the stem.
        out_channels (int): Output channels.
        use_lab (bool): LAB after every conv. Defaults to False.
        freeze_norm (bool): Use frozen norms. Defaults to False.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        use_lab: bool = False,
        freeze_norm: bool = False,
    ) -> None:
        super().__init__()
        cfg = dict(use_lab=use_lab, freeze_norm=freeze_norm)
        half = mid_channels // 2
        self.stem1 = ConvBNAct(in_channels, mid_channels, 3, 2, **cfg)
        self.stem2a = ConvBNAct(mid_channels, half, 2, **cfg)
        self.stem2b = ConvBNAct(half, mid_channels, 2, **cfg)
        self.stem3 = ConvBNAct(2 * mid_channels, mid_channels, 3, 2, **cfg)
        self.stem4 = ConvBNAct(mid_channels, out_channels, 1, **cfg)
        # NOTE: upstream sets ceil_mode=True. With a 2x2 kernel and stride 1
        # both modes give an output one pixel smaller than the (padded)
        # input, so the result is identical; ceil_mode=False avoids the ONNX
        # export failure of upstream issue #260 (``get_pool_ceil_padding``).
        self.pool = nn.MaxPool2d(kernel_size=2, stride=1, ceil_mode=False)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the stem.

        Args:
            x (Tensor): Images, shape (B, in_channels, H, W).

        Returns:
            Tensor: Shape (B, out_channels, H / 4, W / 4).
        """
        x = F.pad(self.stem1(x), (0, 1, 0, 1))
        branch_conv = F.pad(self.stem2a(x), (0, 1, 0, 1))
        branch_conv = self.stem2b(branch_conv)
        parts = (self.max_pool(x), branch_conv)
        # deployed: the original's graph; hooked: the modules are called
        if self.stem3.bn is None or runs_hooks(self.stem3, self.stem3.conv):
            return self.stem4(self.stem3(torch.cat(parts, dim=1)))
        # stem3's conv part by part: no (B, 2 * mid, H / 2, W / 2) map
        x = self.stem3.norm_act(conv_of_cat(self.stem3.conv, parts))
        return self.stem4(x)

    def max_pool(self, x: Tensor) -> Tensor:
        """``self.pool(x)`` (x: (B, C, H, W)), on the CPU computed in
        channels-last memory format and returned in ``x``'s.

        PyTorch's CPU max-pool kernel vectorises over channels in
        channels-last format only: several times faster on the stem's
        16-channel map, conversions included. The values and the
        argmax indices are the same, the gradients up to the order of
        float sums.
        """
        if x.device.type != 'cpu' or x.is_contiguous(
            memory_format=torch.channels_last
        ):
            return self.pool(x)
        pooled = self.pool(x.contiguous(memory_format=torch.channels_last))
        return pooled.contiguous()
