"""HGNetV2's light convolution: a 1x1 conv, then an activated depthwise one.

Written after the behaviour of ``LightConvBNAct`` in ``src/nn/backbone/
hgnetv2.py`` of the official D-FINE repo (https://github.com/Peterande/
D-FINE, Apache-2.0); the module names ``conv1`` and ``conv2`` are kept.
"""

from torch import Tensor, nn

from .conv_bn_act import ConvBNAct


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
        """Args:
            x (Tensor): Shape (B, in_channels, H, W).

        Returns:
            Tensor: Shape (B, out_channels, H, W).
        """
        return self.conv2(self.conv1(x))
