"""Query-selection anchors on the grid of every feature level."""

from fractions import Fraction
from typing import List, Sequence, Tuple

import torch
from torch import Tensor


def grid_anchors(
    spatial_shapes: Sequence[Tuple[int, int]],
    grid_size: float,
    like: Tensor,
    eps: float = 0.01,
) -> Tuple[Tensor, Tensor]:
    """Anchors at the cell centres of every level, in inverse-sigmoid space.

    Level l (finest first) has centres at the cell centres and size
    ``grid_size * 2**l`` (relative to the image). Anchors not strictly
    inside (eps, 1 - eps) are invalid: their value is the dtype's largest
    float (RT-DETR / D-FINE's convention). Validity is decided on the cell
    indices in integers (eps as a fraction), so that every backend agrees:
    a centre on the margin, e.g. (49 + 0.5) / 50 = 0.99, is invalid as in
    float32, where an exported graph that divides by multiplying with the
    reciprocal (OpenVINO) would otherwise find it inside.

    Args:
        spatial_shapes (Sequence[tuple[int, int]]): (h, w) per level.
        grid_size (float): Anchor size on the finest level.
        like (Tensor): Gives the device and dtype.
        eps (float): Margin of the valid range. Defaults to 0.01.

    Returns:
        tuple[Tensor]: anchors (1, S, 4) cxcywh logits and the valid mask
        (1, S, 1) bool, S = sum(h * w).
    """
    margin = Fraction(eps).limit_denominator(10**6)
    low, high = margin.numerator, margin.denominator - margin.numerator
    den = margin.denominator
    levels: List[Tensor] = []
    inside: List[Tensor] = []
    for level, (h, w) in enumerate(spatial_shapes):
        ys, xs = torch.meshgrid(
            torch.arange(h, device=like.device, dtype=like.dtype),
            torch.arange(w, device=like.device, dtype=like.dtype),
            indexing='ij',
        )
        centres = torch.stack([(xs + 0.5) / w, (ys + 0.5) / h], -1)
        sizes = torch.full_like(centres, grid_size * 2.0**level)
        levels.append(torch.cat([centres, sizes], -1).reshape(-1, 4))
        # eps < (2i + 1) / 2n < 1 - eps, with eps = low / den
        ok = []
        for n, steps in ((h, ys), (w, xs)):
            odd = 2 * steps.to(torch.int64) + 1
            ok.append((den * odd > 2 * n * low) & (den * odd < 2 * n * high))
        level_ok = ok[0] & ok[1]
        if not eps < grid_size * 2.0**level < 1 - eps:  # the size: invalid
            level_ok = torch.zeros_like(level_ok)
        inside.append(level_ok.reshape(-1))
    anchors = torch.cat(levels)[None]
    valid = torch.cat(inside)[None, :, None]
    anchors = torch.log(anchors / (1 - anchors))
    anchors = torch.where(
        valid, anchors, torch.full_like(anchors, torch.finfo(like.dtype).max)
    )
    return anchors, valid
