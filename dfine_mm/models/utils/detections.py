"""What FDR adds to mmdet's DETR detections."""

from typing import List

from mmdet.utils import InstanceList
from torch import Tensor


def attach_edge_std(
    results: InstanceList,
    scores: Tensor,
    std: Tensor,
    batch_img_metas: List[dict],
    max_per_img: int,
    rescale: bool,
) -> None:
    """Give each detection its ``edge_std`` (n, 4) in pixels, in place.

    mmdet's DETR post-processing keeps the top ``max_per_img`` sigmoid
    scores over queries x classes, so the same top-k gives each
    detection's query.

    Args:
        results (list[:obj:`InstanceData`]): Per image, the detections of
            ``predict_by_feat``; gains ``edge_std``.
        scores (Tensor): (B, Q, K) logits of the evaluated layer.
        std (Tensor): (B, Q, 4) std of the left, top, right and bottom
            edges, normalised by the image size (:func:`edge_std`).
        batch_img_metas (list[dict]): ``img_shape`` and, with ``rescale``,
            ``scale_factor``.
        max_per_img (int): The head's ``test_cfg.max_per_img``.
        rescale (bool): Pixels of the original image (as ``bboxes``).
    """
    num_classes = scores.shape[-1]
    for image, (result, meta) in enumerate(zip(results, batch_img_metas)):
        top = scores[image].sigmoid().flatten().topk(max_per_img).indices
        value = std[image, top // num_classes]
        h, w = meta['img_shape'][:2]
        value = value * value.new_tensor([w, h, w, h])
        if rescale:
            factor = value.new_tensor(meta['scale_factor']).repeat(2)
            value = value / factor
        result.edge_std = value
