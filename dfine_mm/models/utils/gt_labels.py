"""Checks of the ground truth a detector trains on."""

from typing import List

from mmdet.structures import SampleList
from mmdet.utils import InstanceList


def check_gt_labels(
    batch_gt_instances: InstanceList,
    batch_img_metas: List[dict],
    num_classes: int,
) -> None:
    """Raise ValueError naming the image when a label is outside
    [0, num_classes)."""
    for gt, meta in zip(batch_gt_instances, batch_img_metas):
        labels = gt.labels
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'ground-truth labels must be in [0, {num_classes}), got '
                f'{labels.unique().tolist()} for '
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
