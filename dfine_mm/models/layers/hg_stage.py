"""HGNetV2's stage: an optional depthwise stride-2 downsample, then HG
blocks.

Written after the behaviour of ``HG_Stage`` in ``src/nn/backbone/
hgnetv2.py`` of the official D-FINE repo (https://github.com/Peterande/
D-FINE, Apache-2.0); the module names ``downsample`` and ``blocks`` are
kept. The first stage's downsample, an ``nn.Identity`` upstream, is
``None`` here and skipped.
"""

from torch import Tensor, nn

from .conv_bn_act import ConvBNAct
from .hg_block import HGBlock


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
        """Args:
            x (Tensor): Shape (B, in_channels, H, W).

        Returns:
            Tensor: Shape (B, out_channels, H', W'), where H' and W' are
            ``ceil(H / 2)`` and ``ceil(W / 2)`` with the downsample, else H
            and W.
        """
        if self.downsample is not None:
            x = self.downsample(x)
        return self.blocks(x)
