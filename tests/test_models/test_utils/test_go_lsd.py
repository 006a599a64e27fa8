"""GO-LSD's matching union on a worked example."""

import torch

from dfine_mm.models.utils import go_lsd_union


def pairs(*items):
    queries, gts = zip(*items) if items else ((), ())
    return torch.tensor(queries, dtype=torch.long), torch.tensor(
        gts, dtype=torch.long
    )


def test_union_keeps_each_querys_most_frequent_gt():
    # three outputs, two images (the second has no ground truth)
    last = [pairs((0, 0), (1, 1)), pairs()]
    aux = [pairs((0, 0), (2, 1)), pairs()]
    enc = [pairs((0, 1), (1, 1)), pairs()]
    union = go_lsd_union([last, aux, enc])
    queries, gts = union[0]
    # (0, 0) x2 beats (0, 1) x1; gt 1 keeps two queries
    assert dict(zip(queries.tolist(), gts.tolist())) == {0: 0, 1: 1, 2: 1}
    # the most frequent pairs come first
    assert set(queries[:2].tolist()) == {0, 1}
    assert len(union[1][0]) == 0 and len(union[1][1]) == 0
    assert queries.dtype == torch.long


def test_union_of_one_matching_is_itself():
    matching = [pairs((5, 2), (7, 0), (9, 1))]
    queries, gts = go_lsd_union([matching])[0]
    assert sorted(zip(queries.tolist(), gts.tolist())) == [
        (5, 2),
        (7, 0),
        (9, 1),
    ]
