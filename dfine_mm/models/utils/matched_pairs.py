"""The (query, gt) pairs of a matching, flattened over the batch with
their ground truth gathered, for the FDR / GO-LSD losses."""

from typing import Dict, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor

Matching = Tuple[Tensor, Tensor]  # (query indices, gt indices), each (n,)


def flat_index(match: Sequence[Matching]) -> Tuple[Tensor, Tensor]:
    """(batch indices, query indices) of all pairs, image by image."""
    batch = torch.cat(
        [torch.full_like(query, i) for i, (query, _) in enumerate(match)]
    )
    return batch, torch.cat([query for query, _ in match])


def gather_targets(
    targets: Sequence[Dict[str, Tensor]], match: Sequence[Matching], key: str
) -> Tensor:
    """The matched ground truths' ``key`` entries, image by image."""
    return torch.cat([t[key][gt] for t, (_, gt) in zip(targets, match)])


class MatchedPairs(NamedTuple):
    """The (query, gt) pairs of one matching, flattened over the batch
    image by image, with the matched ground truth gathered once (every
    output that shares the matching uses them).

    Attributes:
        batch (Tensor): (n,) image index of each pair.
        query (Tensor): (n,) query index.
        labels (Tensor): (n,) matched class.
        cxcywh (Tensor): (n, 4) matched box, cxcywh normalised.
        xyxy (Tensor): (n, 4) the same box, xyxy normalised.
    """

    batch: Tensor
    query: Tensor
    labels: Tensor
    cxcywh: Tensor
    xyxy: Tensor


def matched_pairs(
    targets: Sequence[Dict[str, Tensor]], match: Sequence[Matching]
) -> MatchedPairs:
    """:class:`MatchedPairs` of a per-image matching.

    Args:
        targets (Sequence[dict]): Normalised ground truth per image
            (:func:`normalised_targets`).
        match (Sequence[tuple]): Per image, (query indices, gt indices).
    """
    batch, query = flat_index(match)
    return MatchedPairs(
        batch,
        query,
        gather_targets(targets, match, 'labels'),
        gather_targets(targets, match, 'cxcywh'),
        gather_targets(targets, match, 'xyxy'),
    )
