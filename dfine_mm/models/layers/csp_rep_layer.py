"""CSP layer with RepVGG bottlenecks, as used inside D-FINE's ELAN blocks.

Re-implemented from the description of ``CSPLayer`` in D-FINE
(https://github.com/Peterande/D-FINE, Apache-2.0). Sub-module names
(``conv1``, ``conv2``, ``bottlenecks.{i}``, optional ``conv3``) equal the
official ones.
"""

from mmdet.utils import OptConfigType
from torch import Tensor, nn

from .conv_norm_layer import ConvNormLayer
from .rep_vgg_block import RepVGGBlock


class CSPRepLayer(nn.Module):
    """``conv3(bottlenecks(conv1(x)) + conv2(x))``.

    ``conv1`` and ``conv2`` are 1x1 Conv-BN-act layers to the hidden width
    ``int(out_channels * expansion)``; the bottlenecks are
    ``num_blocks`` :class:`RepVGGBlock`; ``conv3`` is a 1x1 Conv-BN-act
    back to ``out_channels``, or the identity (no weights) when the hidden
    width already equals ``out_channels`` (always the case in D-FINE).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Number of RepVGG bottlenecks (may be 0).
            Defaults to 3.
        expansion (float): Hidden width relative to ``out_channels``.
            Defaults to 1.0.
        act_cfg (:obj:`ConfigDict` or dict, optional): Activation of every
            conv and bottleneck (D-FINE: SiLU); None means none. Defaults
            to None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_blocks: int = 3,
        expansion: float = 1.0,
        act_cfg: OptConfigType = None,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.conv1 = ConvNormLayer(in_channels, hidden, 1, act_cfg=act_cfg)
        self.conv2 = ConvNormLayer(in_channels, hidden, 1, act_cfg=act_cfg)
        self.bottlenecks = nn.Sequential(
            *(
                RepVGGBlock(hidden, hidden, act_cfg=act_cfg)
                for _ in range(num_blocks)
            )
        )
        self.conv3 = (
            nn.Identity()
            if hidden == out_channels
            else ConvNormLayer(hidden, out_channels, 1, act_cfg=act_cfg)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x (Tensor): Input, shape (B, in_channels, H, W).

        Returns:
            Tensor: Output, shape (B, out_channels, H, W).
        """
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))
