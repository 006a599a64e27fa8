"""A matching's pairs flattened over the batch, and index pairs moved in
one transfer."""

import torch

from dfine_mm.models.utils.matched_pairs import matched_pairs, matchings_to


def _targets(gen, counts):
    targets = []
    for count in counts:
        xyxy = torch.rand(count, 4, generator=gen)
        targets.append(
            dict(
                labels=torch.randint(80, (count,), generator=gen),
                xyxy=xyxy,
                cxcywh=xyxy + 1,
            )
        )
    return targets


def test_matched_pairs_gather_each_images_ground_truth():
    """Image by image, in the matching's order, including an image with
    ground truth but no pair and one with neither."""
    gen = torch.Generator().manual_seed(0)
    targets = _targets(gen, (3, 0, 4, 2))
    match = [
        (torch.tensor([7, 2, 9]), torch.tensor([2, 0, 1])),
        (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)),
        (torch.tensor([1, 5]), torch.tensor([3, 3])),
        (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)),
    ]
    pairs = matched_pairs(targets, match)
    assert pairs.batch.tolist() == [0, 0, 0, 2, 2]
    assert pairs.query.tolist() == [7, 2, 9, 1, 5]
    for key in ('labels', 'cxcywh', 'xyxy'):
        expected = torch.cat([t[key][g] for t, (_, g) in zip(targets, match)])
        assert torch.equal(getattr(pairs, key), expected), key
    assert pairs.batch.dtype == pairs.query.dtype == torch.long


def test_matchings_to_moves_all_pairs_at_once():
    pairs = [
        (torch.tensor([3, 1], dtype=torch.int32), torch.tensor([0, 2])),
        (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)),
        (torch.tensor([4]), torch.tensor([1])),
    ]
    moved = matchings_to(pairs, 'cpu')
    assert [(q.tolist(), g.tolist()) for q, g in moved] == [
        ([3, 1], [0, 2]),
        ([], []),
        ([4], [1]),
    ]
    # int64 views of one tensor: one transfer
    storages = {t.untyped_storage().data_ptr() for pair in moved for t in pair}
    assert len(storages) == 1
    assert all(t.dtype == torch.long for pair in moved for t in pair)
    assert matchings_to([], 'cpu') == []
