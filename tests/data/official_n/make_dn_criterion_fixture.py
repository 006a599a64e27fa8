"""Make tests/data/official_n/dn_criterion.pth: the official D-FINE
criterion's loss terms *with denoising*, for random decoder outputs.

Usage (the D-FINE source tree, e.g. ``git archive`` of Peterande/D-FINE at
4a1f73a)::

    python tests/data/official_n/make_dn_criterion_fixture.py /path/to/D-FINE

The denoising *queries* come from random draws that two implementations
make in different places of their forward passes (the official model draws
them inside its decoder, dfine_mm's detector before it), so a golden loss
from a whole model would compare RNG streams, not losses. This fixture fixes
what the queries produced instead: random outputs of a 3-layer FDR decoder
whose first D queries are denoising queries (G = 2 groups of 2g, g the
batch's largest ground-truth count, positives first in each group, as the
official ``get_contrastive_denoising_training_group`` lays them out), the
official ``dn_meta`` for them, and every term the official ``DFINECriterion``
computes (``_dn_{i}`` and ``_dn_pre`` besides the others). The queries
themselves are checked value by value against hand-computed noise in
tests/test_models/test_layers/test_dfine_cdn_noise.py.

The official package imports torchvision and its registry at its top level;
this script loads only the criterion, matcher and box modules with small
stand-ins: ``register`` (a no-op decorator), the distributed helpers (one
process) and ``torchvision.ops.boxes.box_area`` (width x height of xyxy
boxes, as torchvision documents it).
"""

import importlib
import os.path as osp
import sys
import types

import torch

REG_MAX = 32
UP, REG_SCALE = 0.5, 4.0
LAYERS, QUERIES, CLASSES, GROUPS = 3, 24, 5, 2
WEIGHTS = dict(loss_vfl=1, loss_bbox=5, loss_giou=2, loss_fgl=0.15,
               loss_ddf=1.5)  # fmt: skip
#: ground truths per image of the two cases (the second: an empty image)
CASES = ((4, 2), (3, 0))


def load_original(root):
    """The official criterion and matcher classes."""

    def package(name, path=None):
        module = types.ModuleType(name)
        module.__path__ = [path] if path else []
        return module

    src = osp.join(root, 'src')
    core = types.ModuleType('src.core')
    core.register = lambda *args, **kwargs: lambda cls: cls
    dist = types.ModuleType('src.misc.dist_utils')
    dist.get_world_size = lambda: 1
    dist.is_dist_available_and_initialized = lambda: False
    vision = types.ModuleType('torchvision')
    ops = types.ModuleType('torchvision.ops')
    boxes = types.ModuleType('torchvision.ops.boxes')
    boxes.box_area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    vision.ops, ops.boxes = ops, boxes
    sys.modules.update({
        'src': package('src', src), 'src.core': core,
        'src.misc': package('src.misc'), 'src.misc.dist_utils': dist,
        'src.zoo': package('src.zoo', osp.join(src, 'zoo')),
        'src.zoo.dfine': package('src.zoo.dfine',
                                 osp.join(src, 'zoo', 'dfine')),
        'torchvision': vision, 'torchvision.ops': ops,
        'torchvision.ops.boxes': boxes,
    })  # fmt: skip
    criterion = importlib.import_module('src.zoo.dfine.dfine_criterion')
    matcher = importlib.import_module('src.zoo.dfine.matcher')
    return criterion.DFINECriterion, matcher.HungarianMatcher


def make_case(counts, seed):
    """Random decoder outputs with D denoising queries first, targets."""
    gen = torch.Generator().manual_seed(seed)

    def boxes(*shape):
        centre = torch.rand(*shape, 2, generator=gen) * 0.6 + 0.2
        size = torch.rand(*shape, 2, generator=gen) * 0.3 + 0.05
        return torch.cat([centre, size], -1)

    batch = len(counts)
    num_dn = GROUPS * 2 * max(counts)
    total = num_dn + QUERIES
    bins = 4 * (REG_MAX + 1)
    inputs = dict(
        scores=torch.randn(LAYERS, batch, total, CLASSES, generator=gen),
        boxes=boxes(LAYERS, batch, total),
        corners=torch.randn(LAYERS, batch, total, bins, generator=gen),
        anchors=boxes(batch, total),
        pre_scores=torch.randn(batch, total, CLASSES, generator=gen),
        pre_boxes=boxes(batch, total),
        enc_scores=torch.randn(batch, QUERIES, CLASSES, generator=gen),
        enc_boxes=boxes(batch, QUERIES),
    )
    targets = [dict(labels=torch.randint(CLASSES, (n,), generator=gen),
                    boxes=boxes(n)) for n in counts]  # fmt: skip
    return inputs, targets, num_dn


def dn_meta(counts, num_dn):
    """The official metadata: per image its positive queries, group-major
    (query ``group * 2g + j`` holds ground truth j)."""
    size = num_dn // GROUPS
    positive = [
        torch.cat([torch.arange(n) + group * size for group in range(GROUPS)])
        for n in counts
    ]
    return dict(dn_positive_idx=positive, dn_num_group=GROUPS,
                dn_num_split=[num_dn, QUERIES])  # fmt: skip


def original_outputs(inputs, meta, num_dn):
    """The outputs dict the official decoder hands its criterion."""
    up, reg_scale = torch.tensor([UP]), torch.tensor([REG_SCALE])
    scores, boxes = inputs['scores'], inputs['boxes']
    corners, anchors = inputs['corners'], inputs['anchors']
    main, dn = slice(num_dn, None), slice(None, num_dn)

    def layer(i, part):
        return dict(pred_logits=scores[i][:, part],
                    pred_boxes=boxes[i][:, part],
                    pred_corners=corners[i][:, part],
                    ref_points=anchors[:, part])  # fmt: skip

    aux = []
    for i in range(LAYERS - 1):
        out = layer(i, main)
        out.update(teacher_corners=corners[-1][:, main],
                   teacher_logits=scores[-1][:, main])  # fmt: skip
        aux.append(out)
    dn_outputs = []
    for i in range(LAYERS):
        out = layer(i, dn)
        out.update(teacher_corners=corners[-1][:, dn],
                   teacher_logits=scores[-1][:, dn])  # fmt: skip
        dn_outputs.append(out)
    outputs = layer(LAYERS - 1, main)
    outputs.update(
        up=up, reg_scale=reg_scale, aux_outputs=aux,
        pre_outputs=dict(pred_logits=inputs['pre_scores'][:, main],
                         pred_boxes=inputs['pre_boxes'][:, main]),
        enc_aux_outputs=[dict(pred_logits=inputs['enc_scores'],
                              pred_boxes=inputs['enc_boxes'])],
        enc_meta=dict(class_agnostic=False),
        dn_outputs=dn_outputs,
        dn_pre_outputs=dict(pred_logits=inputs['pre_scores'][:, dn],
                            pred_boxes=inputs['pre_boxes'][:, dn]),
        dn_meta=meta,
    )  # fmt: skip
    return outputs


def main(root):
    criterion_cls, matcher_cls = load_original(root)
    matcher = matcher_cls(
        dict(cost_class=2, cost_bbox=5, cost_giou=2),
        use_focal_loss=True, alpha=0.25, gamma=2.0,
    )  # fmt: skip
    cases = []
    for seed, counts in enumerate(CASES):
        inputs, targets, num_dn = make_case(counts, seed)
        meta = dn_meta(counts, num_dn)
        criterion = criterion_cls(
            matcher, dict(WEIGHTS), ['vfl', 'boxes', 'local'], alpha=0.75,
            gamma=2.0, num_classes=CLASSES, reg_max=REG_MAX,
        )  # fmt: skip
        values = criterion(original_outputs(inputs, meta, num_dn), targets)
        cases.append(dict(
            inputs=inputs, targets=targets, num_denoising_queries=num_dn,
            num_denoising_groups=GROUPS,
            losses={k: float(v) for k, v in values.items()},
        ))  # fmt: skip
        print(counts, len(values), 'terms:', sorted(values))
    out = osp.join(osp.dirname(osp.abspath(__file__)), 'dn_criterion.pth')
    torch.save(dict(cases=cases, reg_max=REG_MAX, up=UP, reg_scale=REG_SCALE,
                    num_classes=CLASSES), out)  # fmt: skip


if __name__ == '__main__':
    main(sys.argv[1])
