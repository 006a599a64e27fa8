"""Optimizer parameter groups of the COCO configs against the original's
group sizes (dfine_spec.md §g.4, verified there on the official code)."""

import pytest
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.config import Config

from dfine_mm.converters.dfine import build_variant_model, variant_config_path


def groups_of(variant):
    cfg = Config.fromfile(variant_config_path(variant)).optim_wrapper
    cfg = cfg.to_dict()
    cfg['type'] = 'OptimWrapper'  # AMP needs CUDA; the groups do not
    cfg.pop('loss_scale', None)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type=cfg.pop('constructor'),
            optim_wrapper_cfg=cfg,
            paramwise_cfg=cfg.pop('paramwise_cfg'),
        )
    )
    model = build_variant_model(variant).train()
    return constructor(model).optimizer.param_groups, cfg['optimizer']


@pytest.mark.parametrize(
    'variant,expected',
    [
        # (tensors, parameters) of: backbone, [backbone norms,] no-decay
        # group, default group; the empty backbone-norm group (regex quirk
        # of the original) has no entry
        ('s', [(186, 1850396), (191, 38135), (111, 8433344)]),
        ('l', [(75, 13482752), (220, 39936), (274, 17696534)]),
    ],
)
def test_group_sizes_match_the_original(variant, expected):
    groups, optimizer = groups_of(variant)
    sizes = [
        (len(g['params']), sum(p.numel() for p in g['params'])) for g in groups
    ]
    assert sizes == expected
    backbone, no_decay, default = groups
    assert backbone['lr'] < optimizer['lr']
    assert no_decay['weight_decay'] == 0.0
    assert default['lr'] == optimizer['lr']
    assert default['weight_decay'] == optimizer['weight_decay']


def test_unknown_paramwise_keys_are_rejected():
    import torch

    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='DFineOptimWrapperConstructor',
            optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            paramwise_cfg=dict(groups=[], bypass_duplicate=True),
        )
    )
    with pytest.raises(ValueError, match='bypass_duplicate'):
        constructor(torch.nn.Linear(2, 2))


def _sizes(groups_cfg):
    import torch

    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='DFineOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                type='OptimWrapper', optimizer=dict(type='SGD', lr=1.0)
            ),
            paramwise_cfg=dict(groups=groups_cfg),
        )
    )
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    model.head = torch.nn.Linear(2, 2)
    groups = constructor(model).optimizer.param_groups
    return [(len(g['params']), g['lr']) for g in groups]


def test_groups_keyed_by_name():
    named = dict(
        backbone=dict(pattern='backbone', lr=0.1),
        bias=dict(pattern='bias', lr=0.5),
    )
    # backbone weight + bias at 0.1, the head's bias at 0.5, its weight
    # in the default group
    assert _sizes(named) == [(2, 0.1), (1, 0.5), (1, 1.0)]
    assert _sizes(list(named.values())) == _sizes(named)
    assert _sizes(dict(named, bias=None)) == [(2, 0.1), (2, 1.0)]
    with pytest.raises(ValueError, match=r"\['bias'\] have no pattern"):
        _sizes(dict(named, bias=dict(lr=0.5)))
