"""Query-selection anchors on the grid of every feature level."""

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
    float (RT-DETR / D-FINE's convention).

    Args:
        spatial_shapes (Sequence[tuple[int, int]]): (h, w) per level.
        grid_size (float): Anchor size on the finest level.
        like (Tensor): Gives the device and dtype.
        eps (float): Margin of the valid range. Defaults to 0.01.

    Returns:
        tuple[Tensor]: anchors (1, S, 4) cxcywh logits and the valid mask
        (1, S, 1) bool, S = sum(h * w).
    """
    levels: List[Tensor] = []
    for level, (h, w) in enumerate(spatial_shapes):
        ys, xs = torch.meshgrid(
            torch.arange(h, device=like.device, dtype=like.dtype),
            torch.arange(w, device=like.device, dtype=like.dtype),
            indexing='ij',
        )
        centres = torch.stack([(xs + 0.5) / w, (ys + 0.5) / h], -1)
        sizes = torch.full_like(centres, grid_size * 2.0**level)
        levels.append(torch.cat([centres, sizes], -1).reshape(-1, 4))
    anchors = torch.cat(levels)[None]
    valid = ((anchors > eps) & (anchors < 1 - eps)).all(-1, keepdim=True)
    anchors = torch.log(anchors / (1 - anchors))
    anchors = torch.where(
        valid, anchors, torch.full_like(anchors, torch.finfo(like.dtype).max)
    )
    return anchors, valid
