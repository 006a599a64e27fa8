"""SCDown: the PAN down-sampling of the D-FINE hybrid encoder.

Re-implemented from the description of ``SCDown`` in D-FINE
(https://github.com/Peterande/D-FINE, Apache-2.0; the block comes from
YOLOv10). Sub-module names ``cv1`` / ``cv2`` equal the official ones.
"""

from torch import Tensor, nn

from .conv_norm_layer import ConvNormLayer


class SCDown(nn.Module):
    """1x1 Conv-BN, then a depthwise strided Conv-BN; no activations.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (also the depthwise groups).
        kernel_size (int): Depthwise kernel size. Defaults to 3.
        stride (int): Depthwise stride. Defaults to 2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 2,
    ) -> None:
        super().__init__()
        self.cv1 = ConvNormLayer(in_channels, out_channels, 1)
        self.cv2 = ConvNormLayer(
            out_channels,
            out_channels,
            kernel_size,
            stride=stride,
            groups=out_channels,
        )

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): Input, shape (B, in_channels, H, W).

        Returns:
            Tensor: Output, shape (B, out_channels, ceil(H / stride),
            ceil(W / stride)) for ``kernel_size`` 3.
        """
        return self.cv2(self.cv1(x))
