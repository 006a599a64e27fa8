"""GO-LSD's matching union on a worked example."""

import pytest
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


def _per_image(assigner, scores, boxes, gts, metas):
    """The assigner's own matching, image by image (the reference)."""
    from mmengine.structures import InstanceData

    from dfine_mm.models.utils.go_lsd import box_cxcywh_to_xyxy

    matches = []
    for image, (gt, meta) in enumerate(zip(gts, metas)):
        h, w = meta['img_shape']
        pred = InstanceData(
            scores=scores[image],
            bboxes=box_cxcywh_to_xyxy(boxes[image]) * torch.tensor(
                [w, h, w, h], dtype=torch.float),
        )  # fmt: skip
        gt_inds = assigner.assign(pred, gt, img_meta=meta).gt_inds
        query = torch.nonzero(gt_inds > 0).squeeze(1)
        matches.append((query, gt_inds[query] - 1))
    return matches


def _assigner():
    from mmdet.registry import TASK_UTILS
    from mmdet.utils import register_all_modules

    register_all_modules()
    return TASK_UTILS.build(dict(
        type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)]))  # fmt: skip


def _output(gen, queries, classes=7, images=3):
    """Random (B, Q, K) logits and (B, Q, 4) cxcywh boxes."""
    boxes = torch.cat(
        [
            torch.rand(images, queries, 2, generator=gen) * 0.6 + 0.2,
            torch.rand(images, queries, 2, generator=gen) * 0.3 + 0.05,
        ],
        -1,
    )
    return torch.randn(images, queries, classes, generator=gen), boxes


def _gts(gen, sizes, counts=(5, 0, 9), classes=7):
    """Random ground truth per image (the second has none)."""
    from mmengine.structures import InstanceData

    out = []
    for count, (h, w) in zip(counts, sizes):
        xy = torch.rand(count, 2, generator=gen) * torch.tensor([w, h])
        wh = torch.rand(count, 2, generator=gen) * 40 + 4
        labels = torch.randint(classes, (count,), generator=gen)
        out.append(
            InstanceData(bboxes=torch.cat([xy, xy + wh], 1), labels=labels)
        )
    return out


SAME_SIZE = [(96, 128)] * 3
MIXED_SIZES = [(96, 128), (64, 64), (100, 80)]


def test_batched_matching_is_the_assigners_matching():
    """One cost computation for the batch gives, image by image, the
    indices mmdet's HungarianAssigner finds (random inputs: no ties),
    including an image without ground truth; images of several sizes go
    through the assigner itself."""
    from dfine_mm.models.utils.go_lsd import hungarian_match

    assigner = _assigner()
    gen = torch.Generator().manual_seed(0)
    scores, boxes = _output(gen, 40)
    for sizes in (SAME_SIZE, MIXED_SIZES):
        targets = _gts(gen, sizes)
        metas = [dict(img_shape=size) for size in sizes]
        ours = hungarian_match(assigner, scores, boxes, targets, metas)
        expected = _per_image(assigner, scores, boxes, targets, metas)
        assert [len(q) for q, _ in ours] == [5, 0, 9]
        for (q, g), (eq, eg) in zip(ours, expected):
            assert torch.equal(q, eq) and torch.equal(g, eg)
            assert q.dtype == g.dtype == torch.long


@pytest.mark.parametrize('sizes', [SAME_SIZE, MIXED_SIZES])
@pytest.mark.parametrize('classes', [(7, 7, 7), (7, 3, 7)])
def test_matching_several_outputs_is_each_outputs_own(sizes, classes):
    """Outputs matched together (different query counts, a None, classes
    that differ or not) get the matchings each gets alone."""
    from dfine_mm.models.utils.go_lsd import (
        hungarian_match,
        hungarian_matches,
    )

    assigner = _assigner()
    gen = torch.Generator().manual_seed(1)
    outputs = [
        _output(gen, queries, k) for queries, k in zip((40, 25, 40), classes)
    ]
    targets = _gts(gen, sizes, classes=3)
    metas = [dict(img_shape=size) for size in sizes]
    found = hungarian_matches(
        assigner, [outputs[0], None, *outputs[1:]], targets, metas
    )
    assert found[1] is None and len(found) == 4
    for output, matching in zip(outputs, found[:1] + found[2:]):
        alone = hungarian_match(assigner, *output, targets, metas)
        expected = _per_image(assigner, *output, targets, metas)
        assert [len(q) for q, _ in matching] == [5, 0, 9]
        for (q, g), (aq, ag), (eq, eg) in zip(matching, alone, expected):
            assert torch.equal(q, aq) and torch.equal(g, ag)
            assert torch.equal(q, eq) and torch.equal(g, eg)
            assert q.dtype == g.dtype == torch.long


def test_several_outputs_cost_one_computation():
    """With one image size and one class count, each match cost runs once
    for all outputs (one transfer of the costs to the host)."""
    from dfine_mm.models.utils.go_lsd import hungarian_matches

    assigner = _assigner()
    calls = []

    def counted(cost):
        def call(pred, gt, meta):
            calls.append(len(pred))
            return cost(pred, gt, meta)

        return call

    assigner.match_costs = [counted(c) for c in assigner.match_costs]
    gen = torch.Generator().manual_seed(2)
    outputs = [_output(gen, 40), _output(gen, 25), _output(gen, 40)]
    targets = _gts(gen, SAME_SIZE)
    metas = [dict(img_shape=size) for size in SAME_SIZE]
    hungarian_matches(assigner, outputs, targets, metas)
    # three costs, each once over the 3 x (40 + 25 + 40) queries
    assert calls == [3 * 105] * 3


def test_matching_without_ground_truth():
    from mmengine.structures import InstanceData

    from dfine_mm.models.utils.go_lsd import hungarian_matches

    gen = torch.Generator().manual_seed(3)
    none = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)
    )
    metas = [dict(img_shape=size) for size in SAME_SIZE]
    found = hungarian_matches(
        _assigner(), [_output(gen, 40), _output(gen, 25)], [none] * 3, metas
    )
    for matching in found:
        assert [(len(q), len(g)) for q, g in matching] == [(0, 0)] * 3


def test_normalised_targets_per_image():
    """Computed for the batch at once, each image's boxes are divided by
    its own size (images of several sizes, one without ground truth)."""
    from mmdet.structures.bbox import bbox_xyxy_to_cxcywh

    from dfine_mm.models.utils.go_lsd import normalised_targets

    gen = torch.Generator().manual_seed(4)
    gts = _gts(gen, MIXED_SIZES)
    metas = [dict(img_shape=size) for size in MIXED_SIZES]
    targets = normalised_targets(gts, metas)
    assert [len(t['labels']) for t in targets] == [5, 0, 9]
    for target, gt, (h, w) in zip(targets, gts, MIXED_SIZES):
        xyxy = gt.bboxes / torch.tensor([w, h, w, h], dtype=torch.float)
        assert torch.equal(target['xyxy'], xyxy)
        assert torch.equal(target['cxcywh'], bbox_xyxy_to_cxcywh(xyxy))
        assert torch.equal(target['labels'], gt.labels)
        assert target['labels'].dtype == torch.long
    assert normalised_targets([], []) == []


def test_mean_over_processes_alone_stays_on_the_host():
    """Without a process group the normaliser is the count (at least 1),
    read without a device round trip: a meta device would fail one."""
    from dfine_mm.models.utils.go_lsd import mean_over_processes

    assert mean_over_processes(5, torch.device('meta')) == 5.0
    assert mean_over_processes(0, torch.device('meta')) == 1.0
    assert isinstance(mean_over_processes(3, torch.device('cpu')), float)
