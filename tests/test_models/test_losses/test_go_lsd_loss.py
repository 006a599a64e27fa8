"""DFineGOLSDLoss: the FGL of each layer uses that layer's own box pairs when
the GO-LSD union is off (the ``fdr_fgl`` ablation arms)."""

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

from dfine_mm.models.utils import (
    FDRParams,
    bbox2distance,
    go_lsd_union,
    weighting_function,
)
from dfine_mm.models.utils.go_lsd import hungarian_match

LAYERS, BATCH, QUERIES, CLASSES, REG_MAX = 3, 2, 12, 3, 8
SIZE = 64.0


def build_head(union_matching: bool, loss_ddf=None, **kwargs):
    register_all_modules()
    return MODELS.build(
        dict(
            **kwargs,
            type='DFineHead', num_classes=CLASSES, embed_dims=16,
            num_pred_layer=LAYERS, reg_max=REG_MAX, loss_ddf=loss_ddf,
            union_matching=union_matching,
            loss_bbox=dict(type='L1Loss', loss_weight=5.0),
            loss_iou=dict(type='GIoULoss', loss_weight=2.0),
            train_cfg=dict(assigner=dict(
                type='HungarianAssigner', match_costs=[
                    dict(type='FocalLossCost', weight=2.0, eps=1e-8),
                    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                    dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        )
    )  # fmt: skip


def inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(LAYERS, BATCH, QUERIES, CLASSES, generator=gen)
    centres = torch.rand(LAYERS, BATCH, QUERIES, 2, generator=gen)
    sizes = torch.rand(LAYERS, BATCH, QUERIES, 2, generator=gen) * 0.4
    boxes = torch.cat([centres * 0.6 + 0.2, sizes + 0.05], -1)
    corners = torch.randn(
        LAYERS, BATCH, QUERIES, 4 * (REG_MAX + 1), generator=gen
    )
    anchors = boxes[0].detach().clone()
    gts, metas = [], []
    for count in (3, 2):
        xy = torch.rand(count, 2, generator=gen) * 36
        wh = torch.rand(count, 2, generator=gen) * 20 + 6
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + wh], -1),
                labels=torch.randint(CLASSES, (count,), generator=gen),
            )
        )
        metas.append(dict(img_shape=(SIZE, SIZE)))
    return scores, boxes, corners, anchors, gts, metas


UP, REG_SCALE = torch.tensor([0.5]), torch.tensor([4.0])


def expected_fgl(head, corners, boxes, anchors, match, gts, num):
    """FGL of one layer from its pairs, written out with the documented
    formulas: soft bin targets of the matched ground truth relative to the
    anchors, weighted by the IoU of the layer's box with it."""
    batch = torch.cat(
        [torch.full_like(q, i) for i, (q, _) in enumerate(match)]
    )
    query = torch.cat([q for q, _ in match])
    gt = torch.cat([g.bboxes[j] / SIZE for g, (_, j) in zip(gts, match)])
    target = bbox2distance(anchors[batch, query], gt, REG_MAX, REG_SCALE, UP)
    centre, size = boxes[batch, query].split(2, -1)
    xyxy = torch.cat([centre - size / 2, centre + size / 2], -1)
    iou = bbox_overlaps(xyxy, gt, is_aligned=True, eps=0.0)
    return head.loss_fgl(
        corners[batch, query].reshape(-1, REG_MAX + 1),
        *target,
        weight=iou.repeat_interleave(4),
        avg_factor=num,
    )


def all_losses(head, head_inputs):
    """The loss of :func:`inputs` (the layer-0 head's outputs are layer
    0's, no encoder proposals)."""
    scores, boxes, corners, anchors, gts, metas = head_inputs
    params = FDRParams(
        UP, REG_SCALE,
        weighting_function(REG_MAX, UP, REG_SCALE),
    )  # fmt: skip
    return head.go_lsd_loss()(
        scores, boxes, corners, anchors, scores[0], boxes[0], None, None,
        params, gts, metas,
    )  # fmt: skip


@pytest.mark.parametrize('union', [False, True])
def test_fgl_uses_each_layers_pairs(union):
    head = build_head(union)
    scores, boxes, corners, anchors, gts, metas = inputs()
    losses = all_losses(head, inputs())
    own = [
        hungarian_match(head.assigner, s, b, gts, metas)
        for s, b in zip(scores, boxes)
    ]
    # the case that matters: the layers' matchings differ
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(own[0], own[-1])), (
        'inputs must give different matchings per layer'
    )
    if union:
        # every layer's box terms use the union of all outputs' pairs
        pre = hungarian_match(head.assigner, scores[0], boxes[0], gts, metas)
        union_pairs = go_lsd_union([own[-1], *own[:-1], pre])
        matches = [union_pairs] * LAYERS
        num = float(sum(len(q) for q, _ in union_pairs))
    else:
        matches, num = own, 5.0
    for i in range(LAYERS):
        want = expected_fgl(
            head, corners[i], boxes[i], anchors, matches[i], gts, num
        )
        key = 'loss_fgl' if i == LAYERS - 1 else f'd{i}.loss_fgl'
        torch.testing.assert_close(losses[key], want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('union', [False, True])
def test_shared_pairs_are_prepared_once(union, monkeypatch):
    """Gathered ground truth, FGL targets and DDF's balance are computed
    once per distinct box matching: once for the union that all layers
    share, once per layer without it (the values are pinned by the
    loss-parity tests)."""
    from dfine_mm.models.losses import go_lsd_loss as module

    calls = dict(matched_pairs=0, fgl_targets=0, ddf_balance=0)
    for name in calls:
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    all_losses(build_head(union), inputs())
    # own pairs of the L layers and the layer-0 head, plus the union
    assert calls['matched_pairs'] == LAYERS + 1 + union
    distinct = 1 if union else LAYERS
    assert calls['fgl_targets'] == distinct
    assert calls['ddf_balance'] == distinct


@pytest.mark.parametrize('union', [False, True])
def test_stacked_outputs_lose_what_each_loses_alone(union):
    """outputs_loss on the stacked layers gives each layer the terms it gets
    on its own (classification on its own pairs; boxes and FGL on the
    union's or its own pairs), and DDF as written out with the formulas:
    each earlier layer distils the last one, the teacher's confidence
    weighting unmatched queries and the IoU matched ones."""
    from dfine_mm.models.utils.go_lsd import (
        ddf_balance,
        fgl_targets,
        normalised_targets,
    )
    from dfine_mm.models.utils.matched_pairs import matched_pairs

    head = build_head(union, loss_ddf=dict(type='DFineDDFLoss'))
    loss = head.go_lsd_loss()
    scores, boxes, corners, anchors, gts, metas = inputs()
    targets = normalised_targets(gts, metas)
    own = [
        hungarian_match(head.assigner, s, b, gts, metas)
        for s, b in zip(scores, boxes)
    ]
    box = [go_lsd_union(own)] * LAYERS if union else own
    own = [matched_pairs(targets, m) for m in own]
    box = [matched_pairs(targets, m) for m in box]
    if union:  # one object for every layer, as the loss passes it
        box = [box[0]] * LAYERS
    params = FDRParams(
        UP, REG_SCALE, weighting_function(REG_MAX, UP, REG_SCALE)
    )
    fdr = [fgl_targets(anchors, p, REG_MAX, params) for p in box]
    balances = [ddf_balance(p, (BATCH, QUERIES)) for p in box]
    got = loss.outputs_loss(
        scores, boxes, own, box, 5.0, 4.0, corners, fdr, balances
    )
    bins = REG_MAX + 1
    for layer in range(LAYERS):
        alone = loss.outputs_loss(
            scores[layer][None], boxes[layer][None], [own[layer]],
            [box[layer]], 5.0, 4.0, corners[layer][None], [fdr[layer]],
        )[0]  # fmt: skip
        assert set(got[layer]) == set(alone) | (
            {'loss_ddf'} if layer < LAYERS - 1 else set()
        )
        for name, value in alone.items():
            assert torch.equal(got[layer][name], value), (layer, name)
        if layer == LAYERS - 1:
            continue
        pairs = box[layer]
        weight = scores[-1].sigmoid().max(-1).values
        centre, size = boxes[layer][pairs.batch, pairs.query].split(2, -1)
        xyxy = torch.cat([centre - size / 2, centre + size / 2], -1)
        iou = bbox_overlaps(xyxy, pairs.xyxy, is_aligned=True, eps=0.0)
        weight[pairs.batch, pairs.query] = iou
        positive = torch.zeros(BATCH, QUERIES, dtype=torch.bool)
        positive[pairs.batch, pairs.query] = True
        expected = head.loss_ddf(
            corners[layer].reshape(-1, bins),
            corners[-1].reshape(-1, bins),
            weight.reshape(-1).repeat_interleave(4),
            positive.reshape(-1).repeat_interleave(4),
            *balances[layer],
        )
        torch.testing.assert_close(
            got[layer]['loss_ddf'], expected, rtol=1e-6, atol=0
        )


def test_label_losses_get_each_layers_labels():
    """With a loss on class labels (mmdet's FocalLoss, background = K),
    each stacked layer's classification term is the loss of its own
    label map."""
    from dfine_mm.models.utils.go_lsd import normalised_targets
    from dfine_mm.models.utils.matched_pairs import matched_pairs

    focal = dict(type='FocalLoss', use_sigmoid=True, loss_weight=2.0)
    head = build_head(True, loss_cls=focal)
    loss = head.go_lsd_loss()
    scores, boxes, _, _, gts, metas = inputs()
    targets = normalised_targets(gts, metas)
    own = [
        matched_pairs(
            targets, hungarian_match(head.assigner, s, b, gts, metas)
        )
        for s, b in zip(scores, boxes)
    ]
    got = loss.outputs_loss(scores, boxes, own, own, 5.0, 5.0)
    for layer, pairs in enumerate(own):
        labels = torch.full((BATCH, QUERIES), CLASSES, dtype=torch.long)
        labels[pairs.batch, pairs.query] = pairs.labels
        expected = head.loss_cls(
            scores[layer].reshape(-1, CLASSES), labels.reshape(-1),
            avg_factor=5.0,
        )  # fmt: skip
        assert torch.equal(got[layer]['loss_cls'], expected), layer
