"""Checks of the ground truth a detector trains on."""

from typing import List

import torch
from mmdet.structures import SampleList
from mmdet.utils import InstanceList


def check_gt_labels(
    batch_gt_instances: InstanceList,
    batch_img_metas: List[dict],
    num_classes: int,
) -> None:
    """Raise ValueError naming the image when a label is outside
    [0, num_classes).

    The whole batch is checked with one read to the host (one
    synchronisation on CUDA, not two per image); the images are looked at
    one by one only when a label is out of range.
    """
    labels = [gt.labels for gt in batch_gt_instances]
    nonempty = [image_labels for image_labels in labels if len(image_labels)]
    if not nonempty:
        return
    every = torch.cat(nonempty)
    if not ((every < 0) | (every >= num_classes)).any():
        return
    for image_labels, meta in zip(labels, batch_img_metas):
        if len(image_labels) and (
            image_labels.min() < 0 or image_labels.max() >= num_classes
        ):
            raise ValueError(
                f'ground-truth labels must be in [0, {num_classes}), got '
                f'{image_labels.unique().tolist()} for '
                f'{meta.get("img_path", "an image")}; check the data '
                "set's classes and the head's num_classes"
            )


def check_sample_labels(
    batch_data_samples: SampleList, num_classes: int
) -> None:
    """:func:`check_gt_labels` on the ground truth of data samples."""
    check_gt_labels(
        [sample.gt_instances for sample in batch_data_samples],
        [sample.metainfo for sample in batch_data_samples],
        num_classes,
    )
