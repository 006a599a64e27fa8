"""Fine-grained Distribution Refinement (FDR): the math, written once.

D-FINE predicts each box edge as a distribution over ``reg_max + 1`` bins
whose values come from the non-uniform weighting function W(n). A decoder
layer adds its distribution logits ("corners") to the previous layer's, the
expectation of each edge distribution is a distance, and the distances move
the edges of a fixed anchor box (layer 0's box). Every detector of dfine_mm
that uses FDR (D-FINE, DINO+FDR, Deformable-DETR+FDR) calls these functions.

Notation: N = ``reg_max``, a = ``up``, c = ``reg_scale``. Boxes are
normalised to [0, 1]; "cxcywh" and "xyxy" name the box formats.

Reference: D-FINE, arXiv 2410.13842, section 3 (Apache-2.0 official code at
https://github.com/Peterande/D-FINE).
"""

from typing import NamedTuple, Optional, Tuple, Union

import torch
from mmdet.models.layers.transformer.utils import inverse_sigmoid
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from torch import Tensor, nn

Scalar = Union[float, Tensor]


class FDRParams(NamedTuple):
    """The weighting function of a decoder's step, computed once.

    The decoder returns it with its outputs; the losses (FGL targets) and
    the head (``edge_std``) use the same W(n).

    Attributes:
        up (Tensor): a, shape (1,).
        reg_scale (Tensor): c, shape (1,).
        project (Tensor): W(n), shape (N + 1,), in the dtype of ``up``.
    """

    up: Tensor
    reg_scale: Tensor
    project: Tensor


def weighting_function(reg_max: int, up: Scalar, reg_scale: Scalar) -> Tensor:
    """The bin values W(n), n = 0 .. reg_max, of the edge distributions.

    Symmetric around W(N/2) = 0, dense near 0 and sparse at the ends:
    W(0) = -2|a||c|, W(n) = 1 - s^(N/2 - n) for 0 < n < N/2,
    W(n) = s^(n - N/2) - 1 for N/2 < n < N, W(N) = 2|a||c|, with the step
    s = (|a||c| + 1)^(2 / (N - 2)).

    Args:
        reg_max (int): N, the index of the last bin (N + 1 bins). Even, >= 4.
        up (float | Tensor): a, the upper bound factor; a tensor of shape (1,)
            or a number.
        reg_scale (float | Tensor): c, the curvature factor; shape (1,) or a
            number.

    Returns:
        Tensor: Shape (reg_max + 1,), in the dtype and device of ``up`` when
        it is a tensor, else float32.
    """
    if reg_max < 4 or reg_max % 2:
        raise ValueError(f'reg_max must be even and >= 4, got {reg_max}')
    if not (isinstance(up, Tensor) and up.is_floating_point()):
        up = torch.tensor(up, dtype=torch.float32)
    up = up.reshape(-1)[:1]
    reg_scale = torch.as_tensor(reg_scale).to(up)
    bound = up.abs() * reg_scale.reshape(-1)[:1].abs()  # (1,)
    step = (bound + 1) ** (2 / (reg_max - 2))
    half = reg_max // 2
    exponents = torch.arange(1, half, dtype=up.dtype, device=up.device)
    right = step**exponents - 1  # W(N/2 + 1) .. W(N - 1)
    left = 1 - step ** exponents.flip(0)  # W(1) .. W(N/2 - 1)
    zero = torch.zeros_like(bound)
    return torch.cat([-2 * bound, left, zero, right, 2 * bound])


def distribution_integral(corners: Tensor, project: Tensor) -> Tensor:
    """Expected value of each edge distribution.

    Args:
        corners (Tensor): Distribution logits, shape (..., 4 * (N + 1)), the
            edges ordered left, top, right, bottom.
        project (Tensor): W(n) from :func:`weighting_function`, shape
            (N + 1,).

    Returns:
        Tensor: Edge distances, shape (..., 4).
    """
    num_bins = project.numel()
    probs = corners.reshape(*corners.shape[:-1], 4, num_bins).softmax(-1)
    return probs @ project.to(probs.dtype)


def edge_std(
    corners: Tensor, boxes: Tensor, project: Tensor, reg_scale: Scalar
) -> Tensor:
    """Standard deviation of each box edge under its distribution.

    An edge's distance d has variance E[W^2] - E[W]^2 over the bins; the
    edge moves by ``d * size / c`` with the anchor's size, and the box's
    own size is ``(c + d_first + d_second) * size / c``, so the anchor is
    not needed: std(edge) = std(d) * box size / (c + d_first + d_second).

    Args:
        corners (Tensor): Distribution logits, shape (..., 4 * (N + 1)),
            edges left, top, right, bottom.
        boxes (Tensor): The boxes they decode to, shape (..., 4), cxcywh.
        project (Tensor): W(n), shape (N + 1,).
        reg_scale (float | Tensor): c.

    Returns:
        Tensor: Shape (..., 4), non-negative, in the units of ``boxes``
        (left, top, right, bottom).
    """
    num_bins = project.numel()
    probs = corners.reshape(*corners.shape[:-1], 4, num_bins).softmax(-1)
    project = project.to(probs.dtype)
    mean = probs @ project
    std = (probs @ project.square() - mean.square()).clamp(min=0).sqrt()
    scale = abs(reg_scale)
    span = scale + mean[..., :2] + mean[..., 2:]  # (..., 2): x, y
    per_unit = boxes[..., 2:].abs() / span.abs().clamp(min=1e-6)
    return std * per_unit.tile(2)  # x, y, x, y


def distance2bbox(
    anchors: Tensor, distance: Tensor, reg_scale: Scalar
) -> Tensor:
    """Move the edges of anchor boxes by distances.

    Edge e of the box is placed at ``centre -/+ (c / 2 + d_e) * size / c``,
    so d = 0 returns the anchor itself.

    Args:
        anchors (Tensor): Anchor boxes, shape (..., 4), cxcywh.
        distance (Tensor): Edge distances, shape (..., 4), order left, top,
            right, bottom.
        reg_scale (float | Tensor): c.

    Returns:
        Tensor: Boxes, shape (..., 4), cxcywh.
    """
    reg_scale = abs(reg_scale)
    centre, size = anchors[..., :2], anchors[..., 2:]
    half = 0.5 * reg_scale
    top_left = centre - (half + distance[..., :2]) * (size / reg_scale)
    bottom_right = centre + (half + distance[..., 2:]) * (size / reg_scale)
    return bbox_xyxy_to_cxcywh(torch.cat([top_left, bottom_right], -1))


def bbox2distance(
    anchors: Tensor,
    gt_bboxes: Tensor,
    reg_max: int,
    reg_scale: Scalar,
    up: Scalar,
    eps: float = 1e-16,
    project: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Soft bin targets of ground-truth edges relative to anchor boxes.

    The inverse of :func:`distance2bbox` followed by the projection of each
    distance d* onto the bins: with i the last bin whose value is <= d*, the
    target puts ``weight_left`` on bin i and ``weight_right`` on bin i + 1
    (linear interpolation between W(i) and W(i + 1)). Distances beyond the
    end bins go fully to the end bin.

    Args:
        anchors (Tensor): Anchor boxes, shape (n, 4), cxcywh.
        gt_bboxes (Tensor): Matched ground truths, shape (n, 4), xyxy.
        reg_max (int): N.
        reg_scale (float | Tensor): c.
        up (float | Tensor): a.
        eps (float): Guards the division by the anchor size.
        project (Tensor, optional): W(n) of ``reg_max``, ``up`` and
            ``reg_scale`` when the caller has it (:class:`FDRParams`);
            computed here otherwise.

    Returns:
        tuple[Tensor]: Each of shape (n * 4,), detached:

        - target_bins: the left bin as a float in [0, N - 0.1]; the loss
          uses floor() of it as left bin and floor() + 1 as right bin.
        - weight_right: interpolation weight of the right bin.
        - weight_left: interpolation weight of the left bin.
    """
    reg_scale_abs = abs(reg_scale)
    centre, size = anchors[..., :2], anchors[..., 2:]
    scale = size / reg_scale_abs + eps
    left_top = (centre - gt_bboxes[..., :2]) / scale - 0.5 * reg_scale_abs
    right_bottom = (gt_bboxes[..., 2:] - centre) / scale - 0.5 * reg_scale_abs
    distance = torch.cat([left_top, right_bottom], -1).reshape(-1).detach()
    if project is None:
        project = weighting_function(reg_max, up, reg_scale)
    project = project.to(distance)
    # index of the last bin whose value is <= distance (-1 if none)
    left_bin = (project[None] <= distance[:, None]).sum(-1) - 1
    inside = (left_bin >= 0) & (left_bin < reg_max)
    safe_left = left_bin.clamp(0, reg_max - 1)
    gap_left = (distance - project[safe_left]).abs()
    gap_right = (project[safe_left + 1] - distance).abs()
    weight_right = torch.where(
        inside,
        gap_left / (gap_left + gap_right),
        (left_bin >= reg_max).to(distance),
    )
    weight_left = 1.0 - weight_right
    target = torch.where(
        left_bin >= reg_max,
        torch.full_like(distance, reg_max - 0.1),
        left_bin.clamp(min=0).to(distance),
    )
    target = target.clamp(0, reg_max - 0.1)
    return target.detach(), weight_right.detach(), weight_left.detach()


def fdr_initial_boxes(
    pre_reg_branch: nn.Module, query: Tensor, reference: Tensor
) -> Tensor:
    """Layer 0's classic one-step refinement, the anchor of FDR.

    Args:
        pre_reg_branch (nn.Module): Maps (..., C) to (..., 4) offsets in
            inverse-sigmoid space.
        query (Tensor): Layer-0 output queries, shape (B, Q, C).
        reference (Tensor): Input reference boxes, shape (B, Q, 4), cxcywh in
            [0, 1].

    Returns:
        Tensor: Boxes, shape (B, Q, 4), cxcywh. Detached, they are the
        anchors of every layer's distance-to-box decoding.
    """
    return torch.sigmoid(pre_reg_branch(query) + inverse_sigmoid(reference))


def fdr_refine(
    reg_branch: nn.Module,
    query: Tensor,
    prev_query: Union[Tensor, float],
    prev_corners: Union[Tensor, float],
    anchors: Tensor,
    project: Tensor,
    reg_scale: Scalar,
) -> Tuple[Tensor, Tensor]:
    """One decoder layer's distribution refinement.

    ``corners = reg_branch(query + prev_query) + prev_corners``: the layer
    predicts a residual on the previous layer's distribution logits (not
    detached, so gradients flow through the accumulation), from its own
    output plus the previous layer's output (detached by the caller).

    Args:
        reg_branch (nn.Module): Maps (..., C) to (..., 4 * (N + 1)) logits.
        query (Tensor): This layer's output queries, shape (B, Q, C).
        prev_query (Tensor | float): The previous layer's output, detached,
            shape (B, Q, C); 0 for the first layer.
        prev_corners (Tensor | float): The previous layer's corners, shape
            (B, Q, 4 * (N + 1)); 0 for the first layer.
        anchors (Tensor): Layer 0's boxes, detached, shape (B, Q, 4), cxcywh.
        project (Tensor): W(n), shape (N + 1,).
        reg_scale (float | Tensor): c.

    Returns:
        tuple[Tensor]: ``(corners, boxes)``, shapes (B, Q, 4 * (N + 1)) and
        (B, Q, 4) (cxcywh, normalised).
    """
    corners = reg_branch(query + prev_query) + prev_corners
    boxes = distance2bbox(
        anchors, distribution_integral(corners, project), reg_scale
    )
    return corners, boxes
