"""D-FINE-N losses against the official criterion's golden values.

tests/data/official_n holds official-format weights, two 320x320 images,
two target sets (in the second one the second image has no boxes) and
every loss term the official code computed for them, with denoising off
and every BatchNorm in eval mode (see its README). The weights go through
the project's converter; every term must agree within 1e-4 relative.
"""

import json
import os.path as osp

import pytest
import torch
from helpers import our_loss_key
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData

from dfine_mm.converters.dfine import (
    build_variant_model,
    convert_dfine_state_dict,
    read_source_state_dict,
)

DATA = osp.join(osp.dirname(__file__), '..', '..', 'data', 'official_n')
RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope='module')
def model():
    model = build_variant_model('n')
    state_dict, source = convert_dfine_state_dict(
        read_source_state_dict(osp.join(DATA, 'official_n_perturbed.pth'))
    )
    assert source == 'official'
    model.load_state_dict(state_dict, strict=True)
    model.dn_query_generator = None  # denoising off, as in the fixture
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def samples(targets, size):
    result = []
    for target in targets:
        sample = DetDataSample(
            metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size)
        )
        h, w = size
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        sample.gt_instances = InstanceData(
            bboxes=bbox_cxcywh_to_xyxy(target['boxes'].float()) * scale,
            labels=target['labels'].long(),
        )
        result.append(sample)
    return result


@pytest.mark.parametrize(
    'targets_key,losses_key',
    [
        ('targets', 'losses'),
        ('targets_with_empty_image', 'losses_with_empty_image'),
    ],
)
def test_losses_match_official_criterion(model, targets_key, losses_key):
    golden = torch.load(
        osp.join(DATA, 'inputs_and_eval_outputs.pth'), weights_only=True
    )
    with open(osp.join(DATA, 'official_losses.json')) as f:
        expected = json.load(f)[losses_key]
    images = golden['images']
    losses = model.loss(
        images, samples(golden[targets_key], tuple(images.shape[-2:]))
    )
    assert set(losses) == {our_loss_key(k) for k in expected}
    for official, value in expected.items():
        got = losses[our_loss_key(official)].item()
        assert abs(got - value) <= RELATIVE_TOLERANCE * abs(value), (
            f'{official}: {got} vs {value}'
        )
