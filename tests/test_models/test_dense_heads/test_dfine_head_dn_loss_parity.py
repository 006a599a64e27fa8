"""D-FINE's losses *with denoising* against the official criterion.

tests/data/official_n/dn_criterion.pth holds random outputs of a 3-layer
FDR decoder whose first D queries are denoising queries (2 groups, the
official layout), two target sets (the second with an image without boxes)
and every term the official ``DFINECriterion`` computed for them, the
``_dn_{i}`` and ``_dn_pre`` ones included; see make_dn_criterion_fixture.py
there (why a criterion-level fixture: the RNG streams of the two models
draw the noisy queries in different places). The D-FINE-N head's GO-LSD
loss must give every term within 1e-4 relative; the official zero DDF of
the last denoising layer (its own teacher) has no counterpart here.
"""

import os.path as osp

import pytest
import torch
from helpers import our_loss_key
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData

from dfine_mm.converters.dfine import build_variant_model
from dfine_mm.models.utils import FDRParams, weighting_function

FIXTURE = osp.join(osp.dirname(__file__), '..', '..', 'data', 'official_n',
                   'dn_criterion.pth')  # fmt: skip
HEIGHT, WIDTH = 64, 80
LAYERS = 3


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=False)


@pytest.fixture(scope='module')
def go_lsd_loss(fixture):
    model = build_variant_model('n', num_classes=fixture['num_classes'])
    return model.bbox_head.go_lsd_loss()


@pytest.mark.parametrize('case', [0, 1], ids=['boxes', 'empty_image'])
def test_every_denoising_term_matches_the_official(fixture, go_lsd_loss, case):
    data = fixture['cases'][case]
    inputs, targets = data['inputs'], data['targets']
    scale = torch.tensor([WIDTH, HEIGHT, WIDTH, HEIGHT], dtype=torch.float)
    gts = [InstanceData(bboxes=bbox_cxcywh_to_xyxy(t['boxes']) * scale,
                        labels=t['labels']) for t in targets]  # fmt: skip
    metas = [dict(img_shape=(HEIGHT, WIDTH))] * len(gts)
    up = torch.tensor([fixture['up']])
    reg_scale = torch.tensor([fixture['reg_scale']])
    params = FDRParams(
        up, reg_scale, weighting_function(fixture['reg_max'], up, reg_scale)
    )
    dn_meta = dict(
        num_denoising_queries=data['num_denoising_queries'],
        num_denoising_groups=data['num_denoising_groups'],
    )
    ours = go_lsd_loss(
        inputs['scores'], inputs['boxes'], inputs['corners'],
        inputs['anchors'], inputs['pre_scores'], inputs['pre_boxes'],
        inputs['enc_scores'], inputs['enc_boxes'], params, gts, metas,
        dn_meta,
    )  # fmt: skip
    expected = {}
    for key, value in data['losses'].items():
        if key == f'loss_ddf_dn_{LAYERS - 1}':
            assert value == 0.0  # the teacher against itself
            continue
        expected[our_loss_key(key, LAYERS)] = value
    # 4 + 5 + 5 denoising terms per layer (DDF on layers 0, 1), 3 dn_pre_
    assert sum(k.startswith(('dn_', 'd0.dn_', 'd1.dn_')) for k in ours) == 17
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert float(ours[key]) == pytest.approx(value, rel=1e-4), key
