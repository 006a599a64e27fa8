"""HGNetV2's HG block: a chain of convs, their concatenation and a 2-conv
squeeze.

Written after the behaviour of ``HG_Block`` in ``src/nn/backbone/
hgnetv2.py`` of the official D-FINE repo (https://github.com/Peterande/
D-FINE, Apache-2.0); the module names ``layers`` and ``aggregation`` are
kept. Upstream's dead code paths (the ``'ese'`` aggregation, drop path) are
not ported.
"""

import torch
from torch import Tensor, nn

from .conv_bn_act import ConvBNAct
from .light_conv_bn_act import LightConvBNAct


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
        """Args:
            x (Tensor): Shape (B, in_channels, H, W).

        Returns:
            Tensor: Shape (B, out_channels, H, W).
        """
        features = [x]
        y = x
        for layer in self.layers:
            y = layer(y)
            features.append(y)
        y = self.aggregation(torch.cat(features, dim=1))
        if self.residual:
            y = y + x
        return y
