"""Make tests/data/deim/criterion.pth by running the original DEIMCriterion.

Usage (the DEIM source tree, e.g. ``git archive`` of
Intellindust-AI-Lab/DEIM at 09d35d5)::

    python tests/data/deim/make_criterion_fixture.py /path/to/DEIM

The original package imports torchvision and tensorboard at its top level;
neither is installed here, so this script loads only the criterion, matcher
and box modules, with small stand-ins for what they import from elsewhere:
``register`` (a no-op decorator), the distributed helpers (one process)
and ``torchvision.ops.boxes.box_area`` (width x height of xyxy boxes, the
definition torchvision documents).
"""

import importlib
import os.path as osp
import sys
import types

import torch

GAMMA = 1.5
REG_MAX = 32
UP, REG_SCALE = 0.5, 4.0
LAYERS, BATCH, QUERIES, CLASSES = 3, 2, 24, 5
WEIGHTS = dict(loss_mal=1, loss_bbox=5, loss_giou=2, loss_fgl=0.15,
               loss_ddf=1.5)  # fmt: skip


def load_original(root):
    """The original criterion and matcher classes."""
    engine = types.ModuleType('engine')
    engine.__path__ = [osp.join(root, 'engine')]
    core = types.ModuleType('engine.core')
    core.register = lambda *args, **kwargs: lambda cls: cls
    misc = types.ModuleType('engine.misc')
    misc.__path__ = []
    dist = types.ModuleType('engine.misc.dist_utils')
    dist.get_world_size = lambda: 1
    dist.is_dist_available_and_initialized = lambda: False
    deim = types.ModuleType('engine.deim')
    deim.__path__ = [osp.join(root, 'engine', 'deim')]
    vision = types.ModuleType('torchvision')
    ops = types.ModuleType('torchvision.ops')
    boxes = types.ModuleType('torchvision.ops.boxes')
    boxes.box_area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    vision.ops, ops.boxes = ops, boxes
    sys.modules.update({
        'engine': engine, 'engine.core': core, 'engine.misc': misc,
        'engine.misc.dist_utils': dist, 'engine.deim': deim,
        'torchvision': vision, 'torchvision.ops': ops,
        'torchvision.ops.boxes': boxes,
    })  # fmt: skip
    criterion = importlib.import_module('engine.deim.deim_criterion')
    matcher = importlib.import_module('engine.deim.matcher')
    return criterion.DEIMCriterion, matcher.HungarianMatcher


def make_inputs(seed=0):
    """Random outputs of a 3-layer FDR decoder and two target sets (the
    second with an image without boxes)."""
    gen = torch.Generator().manual_seed(seed)

    def boxes(*shape):
        centre = torch.rand(*shape, 2, generator=gen) * 0.6 + 0.2
        size = torch.rand(*shape, 2, generator=gen) * 0.3 + 0.05
        return torch.cat([centre, size], -1)

    bins = 4 * (REG_MAX + 1)
    inputs = dict(
        scores=torch.randn(LAYERS, BATCH, QUERIES, CLASSES, generator=gen),
        boxes=boxes(LAYERS, BATCH, QUERIES),
        corners=torch.randn(LAYERS, BATCH, QUERIES, bins, generator=gen),
        anchors=boxes(BATCH, QUERIES),
        pre_scores=torch.randn(BATCH, QUERIES, CLASSES, generator=gen),
        pre_boxes=boxes(BATCH, QUERIES),
        enc_scores=torch.randn(BATCH, QUERIES, CLASSES, generator=gen),
        enc_boxes=boxes(BATCH, QUERIES),
    )
    targets = [
        [dict(labels=torch.randint(CLASSES, (n,), generator=gen),
              boxes=boxes(n)) for n in (4, 2)],
        [dict(labels=torch.randint(CLASSES, (n,), generator=gen),
              boxes=boxes(n)) for n in (3, 0)],
    ]  # fmt: skip
    return inputs, targets


def original_outputs(inputs):
    """The outputs dict the original criterion reads."""
    scores, boxes, corners = (
        inputs['scores'],
        inputs['boxes'],
        inputs['corners'],
    )
    up, reg_scale = torch.tensor([UP]), torch.tensor([REG_SCALE])

    def layer(i):
        return dict(pred_logits=scores[i], pred_boxes=boxes[i],
                    pred_corners=corners[i], ref_points=inputs['anchors'],
                    up=up, reg_scale=reg_scale)  # fmt: skip

    aux = []
    for i in range(LAYERS - 1):
        out = layer(i)
        out.update(teacher_corners=corners[-1], teacher_logits=scores[-1])
        aux.append(out)
    outputs = layer(LAYERS - 1)
    outputs.update(
        aux_outputs=aux,
        pre_outputs=dict(pred_logits=inputs['pre_scores'],
                         pred_boxes=inputs['pre_boxes']),
        enc_aux_outputs=[dict(pred_logits=inputs['enc_scores'],
                              pred_boxes=inputs['enc_boxes'])],
        enc_meta=dict(class_agnostic=False),
    )  # fmt: skip
    return outputs


def main(root):
    criterion_cls, matcher_cls = load_original(root)
    matcher = matcher_cls(
        dict(cost_class=2, cost_bbox=5, cost_giou=2),
        use_focal_loss=True, alpha=0.25, gamma=2.0,
    )  # fmt: skip
    inputs, target_sets = make_inputs()
    losses = []
    for targets in target_sets:
        criterion = criterion_cls(
            matcher, dict(WEIGHTS), ['mal', 'boxes', 'local'], alpha=0.75,
            gamma=GAMMA, num_classes=CLASSES, reg_max=REG_MAX,
        )  # fmt: skip
        values = criterion(original_outputs(inputs), targets)
        losses.append({k: float(v) for k, v in values.items()})
    out = osp.join(osp.dirname(osp.abspath(__file__)), 'criterion.pth')
    torch.save(dict(inputs=inputs, targets=target_sets, losses=losses,
                    gamma=GAMMA, reg_max=REG_MAX, up=UP,
                    reg_scale=REG_SCALE), out)  # fmt: skip
    for values in losses:
        print(len(values), 'terms:', sorted(values))


if __name__ == '__main__':
    main(sys.argv[1])
