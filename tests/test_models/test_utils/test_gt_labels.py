"""check_gt_labels / check_sample_labels: labels outside [0, num_classes)
are an error naming the image; empty ground truth is fine; one read to the
host per batch."""

import pytest
import torch
from helpers import HostReads, det_samples

from dfine_mm.models.utils.gt_labels import check_sample_labels


def _samples(labels):
    samples = det_samples([len(labels), 0], 64, 64, num_classes=3)
    samples[0].gt_instances.labels = torch.tensor(labels)
    samples[0].set_metainfo(dict(img_path='data/img_7.jpg'))
    return samples


def test_labels_inside_the_classes_pass():
    check_sample_labels(_samples([0, 2]), 3)


@pytest.mark.parametrize('labels', [[0, 3], [-1, 1]], ids=['high', 'low'])
def test_label_outside_names_the_image(labels):
    with pytest.raises(ValueError) as error:
        check_sample_labels(_samples(labels), 3)
    message = str(error.value)
    assert 'labels must be in [0, 3)' in message
    assert f'{sorted(labels)}' in message and 'data/img_7.jpg' in message
    assert "head's num_classes" in message


def test_one_read_to_the_host_per_batch():
    # two reads per image before (min and max): eight for this batch
    samples = det_samples([3, 0, 5, 2, 1], 64, 64, num_classes=3)
    with HostReads() as reads:
        check_sample_labels(samples, 3)
    assert reads.count == 1
    with HostReads() as reads:
        check_sample_labels(det_samples([0, 0], 64, 64), 3)
    assert reads.count == 0


def test_out_of_range_label_in_a_later_image_is_found():
    samples = det_samples([2, 3, 1], 64, 64, num_classes=3)
    samples[2].gt_instances.labels = torch.tensor([5])
    samples[2].set_metainfo(dict(img_path='data/img_9.jpg'))
    with pytest.raises(ValueError, match='img_9.jpg'):
        check_sample_labels(samples, 3)
