"""GO-LSD (D-FINE, arXiv 2410.13842 §3.3): the outputs' Hungarian
matchings and the pure helpers of the FDR / GO-LSD losses (the matchings'
union is in ``matched_pairs``)."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from mmdet.models.task_modules import BaseAssigner
from mmdet.structures.bbox import bbox_overlaps, bbox_xyxy_to_cxcywh
from mmdet.utils import InstanceList, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor, nn

from .fdr import FDRParams, bbox2distance
from .matched_pairs import (
    MatchedPairs,
    Matching,
    go_lsd_union,  # noqa: F401 (its old path)
    matchings_to,
)


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
    """``count`` averaged over processes, at least 1; without a process
    group the count itself, with no tensor on ``device`` and no read back
    (on CUDA: no synchronisation)."""
    if not (dist.is_available() and dist.is_initialized()):
        return max(float(count), 1.0)
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
    ``cxcywh`` (n, 4) boxes normalised by the image size to [0, 1]
    (computed for the batch at once; each image's are views)."""
    if not batch_gt_instances:
        return []
    counts = [len(gt) for gt in batch_gt_instances]
    bboxes = torch.cat([gt.bboxes for gt in batch_gt_instances])
    sizes = torch.tensor(
        [[m['img_shape'][1], m['img_shape'][0]] * 2 for m in batch_img_metas],
        dtype=bboxes.dtype,
    )
    factor = sizes.repeat_interleave(torch.tensor(counts), 0)
    xyxy = bboxes / factor.to(bboxes.device)
    labels = torch.cat([gt.labels for gt in batch_gt_instances]).long()
    return [
        dict(labels=image_labels, xyxy=image_xyxy, cxcywh=image_cxcywh)
        for image_labels, image_xyxy, image_cxcywh in zip(
            labels.split(counts),
            xyxy.split(counts),
            bbox_xyxy_to_cxcywh(xyxy).split(counts),
        )
    ]


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
    if _batchable(assigner, batch_img_metas):
        return _batched_match(
            assigner.match_costs, [(scores, boxes)], batch_gt_instances,
            batch_img_metas[0],
        )[0]  # fmt: skip
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


def hungarian_matches(
    assigner: BaseAssigner,
    outputs: Sequence[Optional[Tuple[Tensor, Tensor]]],
    batch_gt_instances: InstanceList,
    batch_img_metas: List[dict],
) -> List[Optional[List[Matching]]]:
    """:func:`hungarian_match` of several outputs of one batch.

    Where :func:`hungarian_match` batches the images, the costs of every
    query of every output (of one class count) are one computation and one
    transfer to the host; each (output, image) block is solved on its own,
    so every output gets the matching it gets alone.

    Args:
        assigner (BaseAssigner): As for :func:`hungarian_match`.
        outputs (Sequence[tuple[Tensor, Tensor] | None]): Per output, its
            (B, Q_o, K) logits and (B, Q_o, 4) cxcywh boxes, or None.
        batch_gt_instances (list[:obj:`InstanceData`]): Ground truth.
        batch_img_metas (list[dict]): With ``img_shape``.

    Returns:
        list: Per output, its per-image matching (None for None).
    """
    present = [output for output in outputs if output is not None]
    classes = {scores.shape[-1] for scores, _ in present}
    together = len(classes) == 1 and _batchable(assigner, batch_img_metas)
    if present and together:
        found = iter(_batched_match(
            assigner.match_costs, present, batch_gt_instances,
            batch_img_metas[0],
        ))  # fmt: skip
    else:
        found = iter([
            hungarian_match(assigner, scores, boxes, batch_gt_instances,
                            batch_img_metas)
            for scores, boxes in present
        ])  # fmt: skip
    return [None if output is None else next(found) for output in outputs]


def _batchable(assigner: BaseAssigner, batch_img_metas: List[dict]) -> bool:
    """Whether the costs of a batch can be computed at once: one image size
    and an assigner with mmdet's ``match_costs``."""
    shapes = {tuple(meta['img_shape'][:2]) for meta in batch_img_metas}
    return len(shapes) == 1 and hasattr(assigner, 'match_costs')


def _batched_match(
    match_costs, outputs: Sequence[Tuple[Tensor, Tensor]],
    batch_gt_instances: InstanceList, meta: dict,
) -> List[List[Matching]]:  # fmt: skip
    """The matchings of ``outputs`` ((B, Q_o, K) logits and (B, Q_o, 4)
    boxes each) for a batch of one image size: the (sum_o B Q_o, N) costs
    of all their queries against all N ground truths at once, one transfer
    to the host, each (output, image) block of (Q_o, n_i) solved there, and
    the indices of all blocks sent back in one transfer."""
    from scipy.optimize import linear_sum_assignment

    counts = [len(gt) for gt in batch_gt_instances]
    device = outputs[0][0].device
    if not sum(counts):
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return [[(empty, empty) for _ in counts] for _ in outputs]
    h, w = meta['img_shape'][:2]
    boxes = torch.cat([b.detach().flatten(0, 1) for _, b in outputs])
    pred = InstanceData(
        scores=torch.cat([s.detach().flatten(0, 1) for s, _ in outputs]),
        bboxes=box_cxcywh_to_xyxy(boxes) * boxes.new_tensor([w, h, w, h]),
    )
    gt = InstanceData.cat([g for g in batch_gt_instances if len(g)])
    cost = torch.stack([c(pred, gt, meta) for c in match_costs]).sum(0)
    cost = cost.cpu().numpy()
    blocks, row = [], 0
    for scores, _ in outputs:
        start = 0
        for count in counts:
            query, target = linear_sum_assignment(
                cost[row : row + scores.shape[1], start : start + count]
            )
            order = query.argsort()
            blocks.append((
                torch.from_numpy(query[order]),
                torch.from_numpy(target[order]),
            ))  # fmt: skip
            row, start = row + scores.shape[1], start + count
    found = matchings_to(blocks, device)
    return [
        found[index : index + len(counts)]
        for index in range(0, len(found), len(counts))
    ]


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
    if not targets:
        return []
    starts = torch.arange(groups) * group_size
    pairs = []
    for target in targets:  # built on the host, sent in one transfer
        gt = torch.arange(len(target['labels']))
        pairs.append(
            ((starts[:, None] + gt[None]).flatten(), gt.repeat(groups))
        )
    return matchings_to(pairs, targets[0]['labels'].device)


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


def stacked_index(
    pairs: Sequence[MatchedPairs],
) -> Tuple[Tuple[Tensor, Tensor, Tensor], List[int]]:
    """The (output, image, query) index of the pairs of O stacked outputs
    ((O, B, Q, ...) predictions), output by output, and how many pairs each
    output has.

    Args:
        pairs (Sequence[:class:`MatchedPairs`]): Per output, its pairs.

    Returns:
        tuple: Three (sum_o n_o,) index tensors, and [n_o].
    """
    output = torch.cat(
        [p.batch.new_full(p.batch.shape, i) for i, p in enumerate(pairs)]
    )
    batch = torch.cat([p.batch for p in pairs])
    query = torch.cat([p.query for p in pairs])
    return (output, batch, query), [len(p.query) for p in pairs]


def classification_losses(
    loss_cls: nn.Module,
    scores: Tensor,
    boxes: Tensor,
    pairs: Sequence[MatchedPairs],
    num: float,
    iou_aware: bool,
) -> List[Tensor]:
    """The classification loss of each of O stacked outputs, their targets
    built together.

    Args:
        loss_cls (nn.Module): The loss, called once per output.
        scores (Tensor): (O, B, Q, K) logits.
        boxes (Tensor): (O, B, Q, 4) boxes, cxcywh normalised.
        pairs (Sequence[:class:`MatchedPairs`]): Each output's own pairs.
        num (float): Normaliser.
        iou_aware (bool): True for the varifocal loss (soft targets: the
            IoU of each matched box at its class, and a positive mask);
            False for mmdet's focal-type losses (labels, background = K).
    """
    num_classes = scores.shape[-1]
    index, _ = stacked_index(pairs)
    labels = torch.cat([p.labels for p in pairs])
    if not iou_aware:
        shape = scores.shape[:3]
        label_map = scores.new_full(shape, num_classes, dtype=torch.long)
        label_map[index] = labels
        return [
            loss_cls(s.reshape(-1, num_classes), m.reshape(-1), avg_factor=num)
            for s, m in zip(scores, label_map)
        ]
    iou = aligned_iou(
        box_cxcywh_to_xyxy(boxes[index]), torch.cat([p.xyxy for p in pairs])
    )
    target = torch.zeros_like(scores)
    positive = torch.zeros_like(scores, dtype=torch.bool)
    target[(*index, labels)] = iou.detach().to(target.dtype)
    positive[(*index, labels)] = True
    return [
        loss_cls(
            s.reshape(-1, num_classes),
            t.reshape(-1, num_classes),
            p.reshape(-1, num_classes),
            avg_factor=num,
        )
        for s, t, p in zip(scores, target, positive)
    ]
