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


def test_batched_matching_is_the_assigners_matching():
    """One cost computation for the batch gives, image by image, the
    indices mmdet's HungarianAssigner finds (random inputs: no ties),
    including an image without ground truth; images of several sizes go
    through the assigner itself."""
    from mmdet.registry import TASK_UTILS
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    from dfine_mm.models.utils.go_lsd import hungarian_match

    register_all_modules()
    assigner = TASK_UTILS.build(dict(
        type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)]))  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 40, 7, generator=gen)
    boxes = torch.cat(
        [
            torch.rand(3, 40, 2, generator=gen) * 0.6 + 0.2,
            torch.rand(3, 40, 2, generator=gen) * 0.3 + 0.05,
        ],
        -1,
    )

    def gts(sizes):
        out = []
        for count, (h, w) in zip((5, 0, 9), sizes):
            xy = torch.rand(count, 2, generator=gen) * torch.tensor([w, h])
            wh = torch.rand(count, 2, generator=gen) * 40 + 4
            out.append(InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(7, (count,), generator=gen)))  # fmt: skip
        return out

    for sizes in ([(96, 128)] * 3, [(96, 128), (64, 64), (100, 80)]):
        targets = gts(sizes)
        metas = [dict(img_shape=size) for size in sizes]
        ours = hungarian_match(assigner, scores, boxes, targets, metas)
        expected = _per_image(assigner, scores, boxes, targets, metas)
        assert [len(q) for q, _ in ours] == [5, 0, 9]
        for (q, g), (eq, eg) in zip(ours, expected):
            assert torch.equal(q, eq) and torch.equal(g, eg)
            assert q.dtype == g.dtype == torch.long
