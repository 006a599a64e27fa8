"""prune_for_inference and to_channels_last on D-FINE."""

import pytest
import torch
from torch import nn

from dfine_mm.converters.dfine import build_variant_model
from dfine_mm.models.utils.inference import (
    prune_for_inference,
    to_channels_last,
)


@pytest.fixture(scope='module')
def model():
    return build_variant_model('n')


def test_pruning_keeps_only_the_evaluated_layer(model):
    """eval_idx = -1 (the last of 3 layers): the score branches and LQEs
    before it become identities, nothing else goes, and pruning twice
    changes nothing."""
    prune_for_inference(model)
    keys = set(model.state_dict())
    prune_for_inference(model)
    assert set(model.state_dict()) == keys
    head, decoder = model.bbox_head, model.decoder
    assert decoder.num_layers == len(decoder.layers) == head.num_layers == 3
    assert [isinstance(b, nn.Identity) for b in head.cls_branches] == [
        True, True, False,
    ]  # fmt: skip
    assert [isinstance(b, nn.Identity) for b in head.lqe_layers] == [
        True, True, False,
    ]  # fmt: skip
    assert not any(isinstance(b, nn.Identity) for b in head.reg_branches)
    assert not model.training


def test_channels_last_changes_the_format_only(model):
    images = torch.rand(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        before = model.extract_feat(images)
        to_channels_last(model)
        after = model.extract_feat(images)
    weight = model.backbone.stem.stem1.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
