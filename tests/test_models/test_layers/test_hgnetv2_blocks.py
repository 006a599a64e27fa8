"""``hgnetv2_blocks``: the former home of HGNetV2's bricks still gives
the same classes (code that imports them from there keeps working)."""

import pytest

from dfine_mm.models.layers import (
    conv_bn_act,
    folded_relu_affine,
    hg_block,
    hg_stage,
    hgnetv2_blocks,
    hgnetv2_stem,
    light_conv_bn_act,
)


@pytest.mark.parametrize(
    'name, home',
    [('ConvBNAct', conv_bn_act), ('FoldedReLUAffine', folded_relu_affine),
     ('HGBlock', hg_block), ('HGStage', hg_stage),
     ('LightConvBNAct', light_conv_bn_act), ('StemBlock', hgnetv2_stem)],
)  # fmt: skip
def test_the_old_names_are_the_classes(name, home):
    assert getattr(hgnetv2_blocks, name) is getattr(home, name)
    assert name in hgnetv2_blocks.__all__


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        hgnetv2_blocks.NoSuchBlock  # noqa: B018
