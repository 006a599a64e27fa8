"""DEIMBatchMixUp: the blend, the union of boxes, the epoch window."""

import random

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from projects.DEIM.deim import DEIMBatchMixUp


def batch(sizes=((32, 32),) * 3, counts=(2, 1, 3)):
    samples = []
    for (h, w), count in zip(sizes, counts):
        sample = DetDataSample(metainfo=dict(img_shape=(h, w)))
        sample.gt_instances = InstanceData(
            bboxes=torch.rand(count, 4) * 10 + torch.tensor([0, 0, 12, 12]),
            labels=torch.randint(5, (count,)),
        )
        samples.append(sample)
    return torch.rand(len(samples), 3, 32, 32), samples


@pytest.fixture
def epoch():
    hub = MessageHub.get_current_instance()
    old = hub.get_info('epoch')
    yield lambda value: hub.update_info('epoch', value)
    hub.update_info('epoch', old if old is not None else 0)


def test_mix_blends_neighbours_and_joins_their_boxes(epoch):
    epoch(4)
    torch.manual_seed(0)
    random.seed(0)
    inputs, samples = batch()
    boxes = [s.gt_instances.bboxes.clone() for s in samples]
    labels = [s.gt_instances.labels.clone() for s in samples]
    mixed, out = DEIMBatchMixUp(prob=1.0)(inputs.clone(), samples)
    previous = inputs.roll(1, dims=0)
    # the one beta of the batch, from one pixel, must explain all of them
    beta = (mixed[0, 0, 0, 0] - previous[0, 0, 0, 0]) / (
        inputs[0, 0, 0, 0] - previous[0, 0, 0, 0]
    )
    assert 0.45 <= beta <= 0.55
    torch.testing.assert_close(mixed, beta * inputs + (1 - beta) * previous)
    for i, sample in enumerate(out):
        j = (i - 1) % len(out)
        assert torch.equal(sample.gt_instances.bboxes,
                           torch.cat([boxes[i], boxes[j]]))  # fmt: skip
        assert torch.equal(sample.gt_instances.labels,
                           torch.cat([labels[i], labels[j]]))  # fmt: skip


@pytest.mark.parametrize('value', [3, 64, 100])
def test_only_inside_its_epochs(epoch, value):
    epoch(value)
    inputs, samples = batch()
    mixed, out = DEIMBatchMixUp(prob=1.0, epochs=(4, 64))(inputs, samples)
    assert mixed is inputs
    assert [len(s.gt_instances) for s in out] == [2, 1, 3]


def test_images_of_different_sizes_uncover_both(epoch):
    """In a padded batch, a mixed image's shape covers both images (the
    DETRs mask the padding by ``img_shape``)."""
    epoch(10)
    inputs, samples = batch(sizes=((20, 32), (32, 28), (30, 30)))
    _, out = DEIMBatchMixUp(prob=1.0)(inputs, samples)
    shapes = [tuple(s.metainfo['img_shape']) for s in out]
    assert shapes == [(30, 32), (32, 32), (32, 30)]
