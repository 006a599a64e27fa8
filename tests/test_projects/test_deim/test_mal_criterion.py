"""DEIM's losses (MAL + GO-LSD) against the original DEIMCriterion.

tests/data/deim/criterion.pth holds random outputs of a 3-layer FDR
decoder (layers, layer-0 head, encoder proposals), two target sets (the
second with an image without boxes) and every loss term the original
criterion computed for them with DEIM's settings (MAL gamma 1.5, union
matching, FGL, DDF); see make_criterion_fixture.py there. Every term must
agree within 1e-4 relative.
"""

import os.path as osp

import pytest
import torch
from helpers import our_loss_key
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

from dfine_mm.models.losses import DFineGOLSDLoss
from dfine_mm.models.utils import FDRParams, weighting_function
from projects.DEIM.deim import DEIMMALLoss

FIXTURE = osp.join(
    osp.dirname(__file__), '..', '..', 'data', 'deim', 'criterion.pth'
)
HEIGHT, WIDTH = 64, 80


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=False)


def criterion(fixture):
    register_all_modules()
    assigner = TASK_UTILS.build(dict(
        type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0, eps=1e-8),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)]))  # fmt: skip
    return DFineGOLSDLoss(
        num_classes=5,
        reg_max=fixture['reg_max'],
        assigner=assigner,
        loss_cls=DEIMMALLoss(gamma=fixture['gamma']),
        loss_bbox=MODELS.build(dict(type='L1Loss', loss_weight=5.0)),
        loss_iou=MODELS.build(dict(type='GIoULoss', loss_weight=2.0)),
        loss_fgl=MODELS.build(dict(type='DFineFGLLoss', loss_weight=0.15)),
        loss_ddf=MODELS.build(
            dict(type='DFineDDFLoss', temperature=5.0, loss_weight=1.5)
        ),
        union_matching=True,
    )


@pytest.mark.parametrize('case', [0, 1], ids=['boxes', 'empty_image'])
def test_every_term_matches_the_original(fixture, case):
    inputs, targets = fixture['inputs'], fixture['targets'][case]
    scale = torch.tensor([WIDTH, HEIGHT, WIDTH, HEIGHT], dtype=torch.float)
    gts = [
        InstanceData(
            bboxes=bbox_cxcywh_to_xyxy(t['boxes']) * scale,
            labels=t['labels'],
        )
        for t in targets
    ]
    metas = [dict(img_shape=(HEIGHT, WIDTH))] * len(gts)
    up = torch.tensor([fixture['up']])
    reg_scale = torch.tensor([fixture['reg_scale']])
    params = FDRParams(
        up, reg_scale, weighting_function(fixture['reg_max'], up, reg_scale)
    )
    ours = criterion(fixture)(
        inputs['scores'], inputs['boxes'], inputs['corners'],
        inputs['anchors'], inputs['pre_scores'], inputs['pre_boxes'],
        inputs['enc_scores'], inputs['enc_boxes'], params, gts, metas,
    )  # fmt: skip
    expected = {our_loss_key(k): v for k, v in fixture['losses'][case].items()}
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert float(ours[key]) == pytest.approx(value, rel=1e-4), key


def test_class_labels_are_refused():
    """mmdet's own heads pass class labels; MAL says what it needs."""
    loss = DEIMMALLoss()
    with pytest.raises(ValueError, match='FDR head'):
        loss(torch.randn(6, 5), torch.randint(5, (6,)), torch.ones(6))


def test_a_softmax_classifier_is_refused_when_built():
    """A head whose classifier is not sigmoid-based cannot take MAL: the
    config fails when the head is built, naming the fix."""
    register_all_modules()
    mal = dict(type='DEIMMALLoss', use_sigmoid=False)
    head = dict(type='FDRDINOHead', num_classes=5, reg_max=32, eval_idx=-1,
                loss_cls=mal)  # fmt: skip
    with pytest.raises(ValueError, match='sigmoid classifier'):
        MODELS.build(head)
    assert MODELS.build(dict(head, loss_cls=dict(type='DEIMMALLoss')))
