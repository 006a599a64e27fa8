"""DFineVarifocalLoss: a clear error when called as mmdet's DETR heads call
a classification loss, and none on the FDR heads' inputs."""

import pytest
import torch

from dfine_mm.models.losses import DFineVarifocalLoss


def test_integer_targets_of_the_logits_shape_are_refused():
    loss = DFineVarifocalLoss()
    one_hot = torch.zeros(6, 80, dtype=torch.long)
    with pytest.raises(ValueError, match='IoU-aware targets'):
        loss(torch.randn(6, 80), one_hot)


def test_class_indices_name_the_fix():
    loss = DFineVarifocalLoss()
    pred = torch.randn(6, 80)
    labels = torch.randint(0, 81, (6,))  # mmdet's DINOHead: class indices
    label_weights = torch.ones(6)
    with pytest.raises(ValueError, match='IoU-aware targets.*FocalLoss'):
        loss(pred, labels, label_weights, avg_factor=3.0)


@pytest.mark.parametrize(
    'positive',
    [torch.ones(6, 80), torch.ones(6, dtype=torch.bool)],
    ids=['float mask', 'wrong shape'],
)
def test_positive_must_be_a_bool_mask_of_the_logits_shape(positive):
    loss = DFineVarifocalLoss()
    with pytest.raises(ValueError, match='bool mask of shape'):
        loss(torch.randn(6, 80), torch.rand(6, 80), positive)


def test_iou_targets_are_accepted():
    torch.manual_seed(0)
    loss = DFineVarifocalLoss()
    pred = torch.randn(6, 80)
    target = torch.zeros(6, 80)
    target[torch.arange(3), torch.tensor([1, 5, 7])] = torch.rand(3)
    positive = torch.zeros(6, 80, dtype=torch.bool)
    positive[torch.arange(3), torch.tensor([1, 5, 7])] = True
    value = loss(pred, target, positive, avg_factor=3.0)
    # the same with the mask left to the default (target > 0)
    assert torch.allclose(value, loss(pred, target, avg_factor=3.0))
    assert value.isfinite() and value > 0
