"""GO-LSD (D-FINE, arXiv 2410.13842 §3.3): the global-optimal matching
union and the pure helpers of the FDR / GO-LSD losses."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.structures.bbox import bbox_overlaps, bbox_xyxy_to_cxcywh
from mmdet.utils import reduce_mean
from torch import Tensor

Matching = Tuple[Tensor, Tensor]  # (query indices, gt indices), each (n,)


def go_lsd_union(matchings: Sequence[Sequence[Matching]]) -> List[Matching]:
    """Union of the one-to-one matchings of several outputs.

    Pools, per image, the (query, gt) pairs of every output's matching
    (last layer, auxiliary layers, layer-0 head, encoder proposals), counts
    how often each distinct pair occurs, and keeps for each query the gt of
    its most frequent pair. A gt may end up with several queries; a query
    has at most one gt. Ties between pairs of one query are broken as the
    original does: distinct pairs sorted by (query, gt), then ordered by
    ``torch.argsort(counts, descending=True)``, first pair wins.

    Args:
        matchings (Sequence[Sequence[tuple[Tensor, Tensor]]]): One entry per
            output, each a per-image list of (query indices, gt indices).

    Returns:
        list[tuple[Tensor, Tensor]]: Per image, (query indices, gt indices)
        of the union, int64, in order of decreasing pair count.
    """
    num_images = len(matchings[0])
    results = []
    for image in range(num_images):
        pairs = torch.cat(
            [
                torch.stack([m[image][0], m[image][1]], 1).long()
                for m in matchings
            ]
        )
        if not len(pairs):
            empty = pairs.new_zeros(0)
            results.append((empty, empty.clone()))
            continue
        unique, counts = torch.unique(pairs, return_counts=True, dim=0)
        ordered = unique[torch.argsort(counts, descending=True)].tolist()
        chosen = {}
        for query, gt in ordered:
            chosen.setdefault(query, gt)
        queries = torch.tensor(list(chosen), dtype=torch.long)
        gts = torch.tensor(list(chosen.values()), dtype=torch.long)
        results.append((queries.to(pairs.device), gts.to(pairs.device)))
    return results


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """cxcywh -> xyxy with negative widths and heights clamped to 0 (as
    the original's losses convert predictions)."""
    centre, size = boxes[..., :2], boxes[..., 2:].clamp(min=0)
    return torch.cat([centre - 0.5 * size, centre + 0.5 * size], -1)


def narrow_head(
    tensor: Optional[Tensor], num: int, dim: int
) -> Optional[Tensor]:
    """The first ``num`` entries of ``tensor`` along ``dim`` (None stays
    None)."""
    return None if tensor is None else tensor.narrow(dim, 0, num)


def flat_index(match: Sequence[Matching]) -> Tuple[Tensor, Tensor]:
    """(batch indices, query indices) of all pairs, image by image."""
    batch = torch.cat(
        [torch.full_like(query, i) for i, (query, _) in enumerate(match)]
    )
    return batch, torch.cat([query for query, _ in match])


def gather_targets(
    targets: List[Dict[str, Tensor]], match: Sequence[Matching], key: str
) -> Tensor:
    """The matched ground truths' ``key`` entries, image by image."""
    return torch.cat([t[key][gt] for t, (_, gt) in zip(targets, match)])


def aligned_iou(boxes: Tensor, gt_boxes: Tensor) -> Tensor:
    """IoU of row i of ``boxes`` with row i of ``gt_boxes`` (xyxy)."""
    if not len(boxes):
        return boxes.new_zeros(0)
    return bbox_overlaps(boxes, gt_boxes, is_aligned=True, eps=0.0)


def mean_over_processes(count: int, device: torch.device) -> float:
    """``count`` averaged over processes, at least 1."""
    value = torch.tensor(float(count), device=device)
    return reduce_mean(value).clamp(min=1).item()


def ddf_balance(
    match: Sequence[Matching], shape: Tuple[int, int]
) -> Tuple[float, float]:
    """DDF's mixing weights: square roots of the matched and unmatched
    edge counts, scaled to a per-process batch of 8 images."""
    batch, queries = shape
    matched_edges = 4 * sum(len(torch.unique(query)) for query, _ in match)
    scale = 8 / batch
    total_edges = 4 * batch * queries
    return (
        (matched_edges * scale) ** 0.5,
        ((total_edges - matched_edges) * scale) ** 0.5,
    )


def normalised_targets(
    batch_gt_instances: Sequence, batch_img_metas: Sequence[dict]
) -> List[Dict[str, Tensor]]:
    """Per image, the ground truth as ``labels`` (n,), ``xyxy`` and
    ``cxcywh`` (n, 4) boxes normalised by the image size to [0, 1]."""
    targets = []
    for gt, meta in zip(batch_gt_instances, batch_img_metas):
        h, w = meta['img_shape'][:2]
        xyxy = gt.bboxes / gt.bboxes.new_tensor([w, h, w, h])
        targets.append(
            dict(
                labels=gt.labels.long(),
                xyxy=xyxy,
                cxcywh=bbox_xyxy_to_cxcywh(xyxy),
            )
        )
    return targets
