"""``HGBlock``: HGNetV2's chain of convs, concatenated with the block's
input and squeezed by two 1x1 convs, with an optional residual."""

import pytest
import torch

from dfine_mm.models.layers.hg_block import HGBlock
from dfine_mm.models.layers.light_conv_bn_act import LightConvBNAct
from dfine_mm.testing import perturb_


@pytest.mark.parametrize('light_block', [False, True])
def test_structure(light_block):
    block = HGBlock(16, 8, 32, 3, 3, light_block=light_block, use_lab=True)
    assert len(block.layers) == 3
    assert all(isinstance(layer, LightConvBNAct) == light_block
               for layer in block.layers)  # fmt: skip
    squeeze, excite = block.aggregation
    assert squeeze.conv.in_channels == 16 + 3 * 8
    assert squeeze.conv.out_channels == 16
    assert excite.conv.out_channels == 32
    assert squeeze.lab is not None and excite.lab is not None


@pytest.mark.parametrize('residual', [False, True])
def test_output_is_the_squeezed_concatenation(residual):
    torch.manual_seed(0)
    channels = 16 if residual else 12
    block = HGBlock(channels, 8, 16, 2, 3, residual=residual)
    block = block.double().eval()
    perturb_(block, scale=0.1)
    x = torch.randn(2, channels, 10, 10, dtype=torch.float64)
    first = block.layers[0](x)
    second = block.layers[1](first)
    expected = block.aggregation(torch.cat((x, first, second), dim=1))
    if residual:
        expected = expected + x
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
