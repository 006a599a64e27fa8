"""dfine_mm.testing.train_batch: the benchmark tools' fixed batch."""

import torch

from dfine_mm.testing.train_batch import det_samples_of, fixed_train_batch


def test_the_batch_is_fixed_and_in_range():
    images, targets = fixed_train_batch(2, 64, 3, num_classes=5)
    again, targets_again = fixed_train_batch(2, 64, 3, num_classes=5)
    assert images.shape == (2, 3, 64, 64)
    assert torch.equal(images, again)
    assert images.min() >= 0 and images.max() <= 1
    assert len(targets) == 2
    for (boxes, labels), (boxes2, labels2) in zip(targets, targets_again):
        assert torch.equal(boxes, boxes2) and torch.equal(labels, labels2)
        assert boxes.shape == (3, 4) and labels.shape == (3,)
        assert labels.dtype == torch.int64
        assert labels.min() >= 0 and labels.max() < 5
        assert ((boxes[:, :2] >= 0.2) & (boxes[:, :2] <= 0.8)).all()
        assert ((boxes[:, 2:] >= 0.05) & (boxes[:, 2:] <= 0.35)).all()
    assert not torch.equal(targets[0][0], targets[1][0])  # per image


def test_samples_hold_the_boxes_as_pixel_corners():
    boxes = torch.tensor([[0.5, 0.25, 0.2, 0.1]])
    labels = torch.tensor([3])
    (sample,) = det_samples_of([(boxes, labels)], 100)
    assert sample.img_shape == sample.ori_shape == (100, 100)
    assert sample.pad_shape == (100, 100)
    expected = torch.tensor([[40.0, 20.0, 60.0, 30.0]])
    assert torch.allclose(sample.gt_instances.bboxes, expected)
    assert torch.equal(sample.gt_instances.labels, labels)
