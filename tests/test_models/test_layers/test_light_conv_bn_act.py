"""``LightConvBNAct``: HGNetV2's 1x1 conv without activation, then an
activated depthwise conv."""

import pytest
import torch
import torch.nn.functional as F

from dfine_mm.models.layers.light_conv_bn_act import LightConvBNAct


@pytest.mark.parametrize('use_lab', [False, True])
def test_structure(use_lab):
    block = LightConvBNAct(8, 16, 5, use_lab=use_lab)
    assert block.conv1.conv.kernel_size == (1, 1)
    assert block.conv1.act is None and block.conv1.lab is None
    assert block.conv2.conv.kernel_size == (5, 5)
    assert block.conv2.conv.groups == 16
    assert block.conv2.act is not None
    assert (block.conv2.lab is not None) == use_lab


def test_output_is_the_two_convs_in_turn():
    torch.manual_seed(0)
    block = LightConvBNAct(8, 16, 5, use_lab=True).double().eval()
    x = torch.randn(2, 8, 11, 11, dtype=torch.float64)
    c1, c2 = block.conv1, block.conv2
    y = c1.bn(F.conv2d(x, c1.conv.weight))
    z = c2.bn(F.conv2d(y, c2.conv.weight, padding=2, groups=16))
    expected = c2.lab.scale * torch.relu(z) + c2.lab.bias
    out = block(x)
    assert out.shape == (2, 16, 11, 11)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
