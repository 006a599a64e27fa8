"""GO-LSD (D-FINE, arXiv 2410.13842 §3.3): the global-optimal matching
union and the pure helpers of the FDR / GO-LSD losses."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.task_modules import BaseAssigner
from mmdet.structures.bbox import bbox_overlaps, bbox_xyxy_to_cxcywh
from mmdet.utils import InstanceList, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor, nn

from .fdr import FDRParams, bbox2distance
from .matched_pairs import MatchedPairs, Matching


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
    pairs: MatchedPairs, shape: Tuple[int, int]
) -> Tuple[float, float]:
    """DDF's mixing weights: square roots of the matched and unmatched
    edge counts, scaled to a per-process batch of 8 images.

    Args:
        pairs (:class:`MatchedPairs`): The box pairs of the outputs.
        shape (tuple[int]): (B, Q) of the outputs.
    """
    batch, queries = shape
    matched = torch.unique(pairs.batch * queries + pairs.query).numel()
    matched_edges = 4 * matched
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


def hungarian_match(
    assigner: BaseAssigner,
    scores: Tensor,
    boxes: Tensor,
    batch_gt_instances: InstanceList,
    batch_img_metas: List[dict],
) -> List[Matching]:
    """One output's one-to-one matching, per image.

    With mmdet's ``HungarianAssigner`` (``match_costs``) and one image size
    for the batch, the cost of every (query, gt) pair of the batch is one
    computation and one transfer to the host; each image's block is then
    solved as the assigner solves it (``linear_sum_assignment`` on the
    summed costs), giving the assigner's own matching. Otherwise each image
    goes through ``assigner.assign``.

    Args:
        assigner (BaseAssigner): mmdet's ``HungarianAssigner`` (or one with its
            ``assign(pred_instances, gt_instances, img_meta)``).
        scores (Tensor): (B, Q, K) logits.
        boxes (Tensor): (B, Q, 4) boxes, cxcywh normalised.
        batch_gt_instances (list[:obj:`InstanceData`]): ``bboxes`` xyxy
            pixels and ``labels`` per image.
        batch_img_metas (list[dict]): With ``img_shape``.

    Returns:
        list[tuple[Tensor, Tensor]]: Per image, (query indices, gt
        indices), by increasing query index.
    """
    shapes = {tuple(meta['img_shape'][:2]) for meta in batch_img_metas}
    if len(shapes) == 1 and hasattr(assigner, 'match_costs'):
        return _batched_match(
            assigner.match_costs, scores, boxes, batch_gt_instances,
            batch_img_metas[0],
        )  # fmt: skip
    matches = []
    for image, (gt, meta) in enumerate(
        zip(batch_gt_instances, batch_img_metas)
    ):
        h, w = meta['img_shape'][:2]
        factor = boxes.new_tensor([w, h, w, h])
        pred = InstanceData(
            scores=scores[image].detach(),
            bboxes=box_cxcywh_to_xyxy(boxes[image].detach()) * factor,
        )
        result = assigner.assign(pred, gt, img_meta=meta)
        query = torch.nonzero(result.gt_inds > 0).squeeze(1)
        matches.append((query, result.gt_inds[query] - 1))
    return matches


def _batched_match(
    match_costs, scores: Tensor, boxes: Tensor,
    batch_gt_instances: InstanceList, meta: dict,
) -> List[Matching]:  # fmt: skip
    """:func:`hungarian_match` for a batch of one image size: the
    (B Q, N) costs of all queries against all N ground truths at once,
    each image's (Q, n_i) block solved on the host."""
    from scipy.optimize import linear_sum_assignment

    num_images, num_queries = scores.shape[:2]
    counts = [len(gt) for gt in batch_gt_instances]
    device = scores.device
    empty = torch.zeros(0, dtype=torch.long, device=device)
    if not sum(counts):
        return [(empty, empty) for _ in counts]
    h, w = meta['img_shape'][:2]
    factor = boxes.new_tensor([w, h, w, h])
    pred = InstanceData(
        scores=scores.detach().flatten(0, 1),
        bboxes=(box_cxcywh_to_xyxy(boxes.detach()) * factor).flatten(0, 1),
    )
    gt = InstanceData.cat([g for g in batch_gt_instances if len(g)])
    cost = torch.stack([c(pred, gt, meta) for c in match_costs]).sum(0)
    cost = cost.cpu()
    matches, start = [], 0
    for image, count in enumerate(counts):
        if not count:
            matches.append((empty, empty))
            continue
        rows = slice(image * num_queries, (image + 1) * num_queries)
        block = cost[rows, start : start + count]
        start += count
        query, target = linear_sum_assignment(block)
        order = query.argsort()
        matches.append((
            torch.as_tensor(query[order], dtype=torch.long, device=device),
            torch.as_tensor(target[order], dtype=torch.long, device=device),
        ))  # fmt: skip
    return matches


def dn_positive_pairs(
    dn_meta: Dict, targets: Sequence[Dict[str, Tensor]]
) -> List[Matching]:
    """The fixed (query, gt) pairs of the denoising queries.

    Both denoising generators (mmdet's ``CdnQueryGenerator`` and
    :class:`DFineCdnQueryGenerator`) lay the D queries out in G groups of
    2g (g = the batch's largest ground-truth count): in each group the g
    positive queries, then g negative ones. Ground truth j of an image is
    query ``group * 2g + j`` of every group (as mmdet's
    ``DINOHead.get_dn_targets``).

    Args:
        dn_meta (dict): ``num_denoising_queries`` (D) and
            ``num_denoising_groups`` (G).
        targets (Sequence[dict]): Per image, ``labels`` (n,).

    Returns:
        list[tuple[Tensor, Tensor]]: Per image, (query indices, gt
        indices), each (G * n,), group-major.
    """
    groups = dn_meta['num_denoising_groups']
    group_size = dn_meta['num_denoising_queries'] // groups
    pairs = []
    for target in targets:
        labels = target['labels']
        count = len(labels)
        gt = torch.arange(count, device=labels.device)
        starts = torch.arange(groups, device=labels.device) * group_size
        pairs.append(
            ((starts[:, None] + gt[None]).flatten(), gt.repeat(groups))
        )
    return pairs


def denoising_keepalive(
    generator: Optional[nn.Module], dn_meta: Optional[Dict]
) -> Dict[str, Tensor]:
    """A zero ``dn_loss_cls`` on the denoising generator's parameters when
    the batch made no denoising queries (no ground truth in it), so that
    every parameter still gets a gradient (distributed training needs
    this); an empty dict otherwise.

    Args:
        generator (nn.Module, optional): The detector's denoising query
            generator; None without denoising.
        dn_meta (dict, optional): The generator's metadata for the batch.
    """
    if generator is None or (dn_meta and dn_meta['num_denoising_queries']):
        return {}
    zero = sum(param.sum() for param in generator.parameters()) * 0.0
    return dict(dn_loss_cls=zero)


def fgl_targets(
    anchors: Tensor,
    pairs: MatchedPairs,
    reg_max: int,
    fdr_params: FDRParams,
) -> Tuple[Tensor, Tensor, Tensor]:
    """FGL's soft bin targets of the matched edges, relative to the anchors
    (the same for every layer, which share the anchors).

    Args:
        anchors (Tensor): (B, Q, 4) FDR anchors, cxcywh.
        pairs (:class:`MatchedPairs`): The box pairs.
        reg_max (int): N.
        fdr_params (:class:`FDRParams`): The decoder's a, c and W(n).

    Returns:
        tuple[Tensor]: :func:`bbox2distance`'s bins and weights, each
        (4 * pairs,).
    """
    return bbox2distance(
        anchors[pairs.batch, pairs.query].detach(),
        pairs.xyxy,
        reg_max,
        fdr_params.reg_scale,
        fdr_params.up,
        project=fdr_params.project,
    )


def classification_loss(
    loss_cls: nn.Module,
    scores: Tensor,
    boxes: Tensor,
    pairs: MatchedPairs,
    num: float,
    iou_aware: bool,
) -> Tensor:
    """One output's classification loss.

    Args:
        loss_cls (nn.Module): The loss.
        scores (Tensor): (B, Q, K) logits.
        boxes (Tensor): (B, Q, 4) boxes, cxcywh normalised.
        pairs (:class:`MatchedPairs`): The output's own pairs.
        num (float): Normaliser.
        iou_aware (bool): True for the varifocal loss (soft targets: the
            IoU of each matched box at its class, and a positive mask);
            False for mmdet's focal-type losses (labels, background = K).
    """
    batch, query, labels = pairs.batch, pairs.query, pairs.labels
    num_classes = scores.shape[-1]
    flat = scores.reshape(-1, num_classes)
    if not iou_aware:
        label_map = torch.full(
            scores.shape[:2], num_classes, dtype=torch.long,
            device=scores.device,
        )  # fmt: skip
        label_map[batch, query] = labels
        return loss_cls(flat, label_map.reshape(-1), avg_factor=num)
    iou = aligned_iou(box_cxcywh_to_xyxy(boxes[batch, query]), pairs.xyxy)
    target = torch.zeros_like(scores)
    positive = torch.zeros_like(scores, dtype=torch.bool)
    target[batch, query, labels] = iou.detach().to(target.dtype)
    positive[batch, query, labels] = True
    return loss_cls(
        flat,
        target.reshape(-1, num_classes),
        positive.reshape(-1, num_classes),
        avg_factor=num,
    )
