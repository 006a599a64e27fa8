"""The (query, gt) pairs of a matching, flattened over the batch with
their ground truth gathered, GO-LSD's union of matchings (arXiv 2410.13842
§3.3), and their transfers between host and device, for the FDR / GO-LSD
losses."""

from typing import Dict, List, NamedTuple, Sequence, Tuple, Union

import torch
from torch import Tensor

Matching = Tuple[Tensor, Tensor]  # (query indices, gt indices), each (n,)


def matchings_to(
    matchings: Sequence[Matching], device: Union[str, torch.device]
) -> List[Matching]:
    """``matchings`` (any number of (query, gt) index pairs) as int64 on
    ``device`` in one transfer: concatenated, moved, split back (views)."""
    flat = [indices for pair in matchings for indices in pair]
    if not flat:
        return []
    moved = torch.cat(flat).to(device, torch.long)
    parts = iter(moved.split([len(indices) for indices in flat]))
    return [(next(parts), next(parts)) for _ in matchings]


def go_lsd_union(matchings: Sequence[Sequence[Matching]]) -> List[Matching]:
    """Union of the one-to-one matchings of several outputs.

    Pools, per image, the (query, gt) pairs of every output's matching
    (last layer, auxiliary layers, layer-0 head, encoder proposals), counts
    how often each distinct pair occurs, and keeps for each query the gt of
    its most frequent pair. A gt may end up with several queries; a query
    has at most one gt. Ties between pairs of one query are broken as the
    original does: distinct pairs sorted by (query, gt), then ordered by
    ``torch.argsort(counts, descending=True)``, first pair wins.

    The pairs go to the host in one transfer, the union is computed there
    (so ties resolve as on the CPU on every device) and comes back in one.

    Args:
        matchings (Sequence[Sequence[tuple[Tensor, Tensor]]]): One entry per
            output, each a per-image list of (query indices, gt indices).

    Returns:
        list[tuple[Tensor, Tensor]]: Per image, (query indices, gt indices)
        of the union, int64, in order of decreasing pair count, on the
        matchings' device.
    """
    num_images = len(matchings[0])
    if not num_images:
        return []
    device = matchings[0][0][0].device
    on_host = iter(matchings_to([p for m in matchings for p in m], 'cpu'))
    per_output = [[next(on_host) for _ in m] for m in matchings]
    results = []
    for image in range(num_images):
        pairs = torch.cat([torch.stack(m[image], 1) for m in per_output])
        if not len(pairs):
            results.append((pairs.new_zeros(0), pairs.new_zeros(0)))
            continue
        unique, counts = torch.unique(pairs, return_counts=True, dim=0)
        ordered = unique[torch.argsort(counts, descending=True)].tolist()
        chosen = {}
        for query, gt in ordered:
            chosen.setdefault(query, gt)
        results.append((
            torch.tensor(list(chosen), dtype=torch.long),
            torch.tensor(list(chosen.values()), dtype=torch.long),
        ))  # fmt: skip
    return matchings_to(results, device)


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
    device = match[0][0].device if match else torch.device('cpu')
    counts = torch.tensor([len(target['labels']) for target in targets])
    sizes = torch.tensor([len(query) for query, _ in match])
    # per pair, its image and its image's first row in the batch's ground
    # truth: built on the host, sent in one transfer
    firsts = counts.cumsum(0) - counts
    image, first = (
        torch.stack([torch.arange(len(match)), firsts[: len(match)]])
        .repeat_interleave(sizes, 1)
        .to(device)
    )
    rows = torch.cat([gt for _, gt in match]) + first

    def gathered(key: str) -> Tensor:
        return torch.cat([target[key] for target in targets])[rows]

    return MatchedPairs(
        image,
        torch.cat([query for query, _ in match]),
        gathered('labels'),
        gathered('cxcywh'),
        gathered('xyxy'),
    )
