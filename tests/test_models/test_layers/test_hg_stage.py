"""``HGStage``: HGNetV2's optional depthwise stride-2 downsample, then HG
blocks (the first without a residual, the others with one)."""

import pytest
import torch

from dfine_mm.models.layers.hg_stage import HGStage


@pytest.mark.parametrize('downsample', [False, True])
def test_structure_and_output_size(downsample):
    stage = HGStage(16, 8, 32, 3, downsample, False, 3, 2, use_lab=True)
    if downsample:
        conv = stage.downsample.conv
        assert conv.stride == (2, 2) and conv.groups == 16
        assert stage.downsample.act is None and stage.downsample.lab is None
    else:
        assert stage.downsample is None
    assert [block.residual for block in stage.blocks] == [False, True, True]
    assert stage.blocks[0].layers[0].conv.in_channels == 16
    assert stage.blocks[1].layers[0].conv.in_channels == 32
    out = stage.eval()(torch.randn(1, 16, 12, 12))
    size = 6 if downsample else 12
    assert out.shape == (1, 32, size, size)


def test_frozen_norms():
    stage = HGStage(16, 8, 32, 1, True, True, 5, 2, freeze_norm=True)
    norms = [m for m in stage.modules() if 'BatchNorm' in type(m).__name__]
    assert norms and all(type(m).__name__ == 'FrozenBatchNorm2d'
                         for m in norms)  # fmt: skip
