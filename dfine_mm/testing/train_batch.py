"""A fixed training batch for the benchmark tools: the same random images
and targets for dfine_mm and the reference implementations."""

from typing import List, Tuple

import torch
from torch import Tensor


def fixed_train_batch(
    batch: int, size: int, boxes: int, num_classes: int = 80
) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:
    """Random images and targets from a fixed seed (0).

    Args:
        batch (int): Images B.
        size (int): Image side S (square images).
        boxes (int): Boxes N per image.
        num_classes (int): Labels are drawn from [0, num_classes).
            Defaults to 80.

    Returns:
        tuple: Images (B, 3, S, S) in [0, 1], and per image a pair of
        boxes (N, 4) cxcywh normalised to [0, 1] (centres in [0.2, 0.8],
        sides in [0.05, 0.35]) and labels (N,) int64.
    """
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((batch, 3, size, size), generator=generator)
    targets = []
    for _ in range(batch):
        centre = torch.rand(boxes, 2, generator=generator) * 0.6 + 0.2
        sides = torch.rand(boxes, 2, generator=generator) * 0.3 + 0.05
        labels = torch.randint(0, num_classes, (boxes,), generator=generator)
        targets.append((torch.cat([centre, sides], 1), labels))
    return images, targets


def det_samples_of(targets: List[Tuple[Tensor, Tensor]], size: int) -> list:
    """:func:`fixed_train_batch`'s targets as mmdet data samples.

    Args:
        targets (list[tuple[Tensor, Tensor]]): Per image boxes (N, 4)
            cxcywh normalised and labels (N,).
        size (int): Image side S.

    Returns:
        list[DetDataSample]: One per image, S x S image, padding and
        original shapes, ``gt_instances`` with ``bboxes`` (N, 4) xyxy in
        pixels (on the boxes' device) and ``labels``.
    """
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
    from mmengine.structures import InstanceData

    shape = (size, size)
    samples = []
    for boxes, labels in targets:
        sample = DetDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape)
        )
        sample.gt_instances = InstanceData(
            bboxes=bbox_cxcywh_to_xyxy(boxes) * size, labels=labels
        )
        samples.append(sample)
    return samples
