"""GO-LSD's global-optimal matching union (D-FINE, arXiv 2410.13842 §3.3)."""

from typing import List, Sequence, Tuple

import torch
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
