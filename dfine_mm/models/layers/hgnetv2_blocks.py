"""Former home of PP-HGNetV2's building blocks; kept so that code importing
them from here still works.

Each brick now has its file: :class:`~.conv_bn_act.ConvBNAct`,
:class:`~.folded_relu_affine.FoldedReLUAffine`,
:class:`~.light_conv_bn_act.LightConvBNAct`, :class:`~.hg_block.HGBlock`,
:class:`~.hg_stage.HGStage` and :class:`~.hgnetv2_stem.StemBlock`. The
names below are those classes themselves, not copies.
"""

from .conv_bn_act import ConvBNAct
from .folded_relu_affine import FoldedReLUAffine
from .hg_block import HGBlock
from .hg_stage import HGStage
from .hgnetv2_stem import StemBlock
from .light_conv_bn_act import LightConvBNAct

__all__ = [
    'ConvBNAct',
    'FoldedReLUAffine',
    'HGBlock',
    'HGStage',
    'LightConvBNAct',
    'StemBlock',
]
