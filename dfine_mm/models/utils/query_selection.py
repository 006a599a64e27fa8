"""RT-DETR / D-FINE query selection: the top-Q memory positions by their
best class score."""

from typing import Callable, Tuple

import torch
from torch import Tensor


def gather_rows(tensor: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` (B, Q) of ``tensor`` (B, S, D) -> (B, Q, D)."""
    return tensor.gather(1, index[..., None].expand(-1, -1, tensor.shape[-1]))


def index_rows(tensor: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` (B, Q) of ``tensor`` (B, S, D) -> (B, Q, D), as
    :func:`gather_rows` but by indexing: its backward pass keeps only the
    index, not the (B, S, D) input, so rows recomputed with autograd cost
    Q / S of the full activation."""
    batch = torch.arange(len(tensor), device=tensor.device)[:, None]
    return tensor[batch, index]


def select_queries(
    memory: Tensor,
    project: Callable[[Tensor], Tensor],
    classify: Callable[[Tensor], Tensor],
    num_queries: int,
    valid: Tensor,
    selected_rows_backward: bool = False,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Zero the invalid positions, project the memory, score every
    position and keep the top Q.

    ``project`` and ``classify`` must act on each position alone (D-FINE's
    ``enc_output``, a linear layer + layer norm, and its encoder
    classifier, a linear layer). With ``selected_rows_backward`` the two run
    on all S positions without autograd, only to rank them, and again, with
    autograd, on the Q rows kept: the gradient of the other rows is zero
    (their logits and projections feed nothing but the ranking), so the
    backward pass then costs Q / S of the full one and the full-size
    activations are not kept for it (the mask is then applied to the kept
    rows only). The values and gradients are the same up to the order of
    floating-point sums.

    Args:
        memory (Tensor): (B, S, C) flattened features.
        project (callable): (B, N, C) -> (B, N, C).
        classify (callable): (B, N, C) -> (B, N, K) logits.
        num_queries (int): Q <= S.
        valid (Tensor): (1 or B, S, 1) in the memory's dtype: 1 at valid
            positions, 0 where the anchor is invalid (the memory is zeroed).
        selected_rows_backward (bool): Recompute the Q kept rows with
            autograd (for training). Defaults to False.

    Returns:
        tuple[Tensor]: Index of the kept positions (B, Q), their projected
        memory (B, Q, C) and their logits (B, Q, K).
    """
    if selected_rows_backward:
        with torch.no_grad():
            scores = classify(project(valid * memory)).max(-1).values
        index = scores.topk(num_queries, dim=1)[1]
        kept = index_rows(valid.expand(len(memory), -1, -1), index)
        selected = project(kept * index_rows(memory, index))
        return index, selected, classify(selected)
    projected = project(valid * memory)
    logits = classify(projected)
    index = logits.max(-1).values.topk(num_queries, dim=1)[1]
    return index, gather_rows(projected, index), gather_rows(logits, index)
