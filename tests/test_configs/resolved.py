"""What a config means, independent of how it is written: the model, the
pipelines, the parameter groups, the hooks and the schedule, with the
training mode switch (pipeline switch + multi-scale stop) resolved to
epochs. ``python tests/test_configs/resolved.py OUT.json`` writes it for
every shipped D-FINE config (the snapshot the refactors are checked
against)."""

import copy
import glob
import json
import os.path as osp
import sys

from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SWITCH_HOOKS = ('PipelineSwitchHook', 'DFineModeSwitchHook')


def shipped_configs():
    paths = glob.glob(
        osp.join(REPO_ROOT, 'configs', 'dfine', '**', '*.py'), recursive=True
    )
    assert paths
    return sorted(osp.relpath(p, REPO_ROOT) for p in paths)


def _scales(aug):
    if 'scales' in aug:
        return list(aug['scales'])
    base, repeat = aug['base_size'], aug.get('base_size_repeat', 3)
    below = [base - 32 * i for i in range(5, 0, -1)]
    above = [base + 32 * i for i in range(5, 0, -1)]
    return below + [base] * repeat + above


BACKBONE_NORM = r'^(?=.*backbone)(?=.*norm|bn).*$'


def _groups(groups):
    """The parameter groups in order, without the backbone-norm group of
    the original's N / S / M configs: its regex matches no parameter of any
    D-FINE variant (test_resolved_configs.py checks that on the models)."""
    if isinstance(groups, dict):
        groups = list(groups.values())
    return [
        dict(g)
        for g in groups
        if g is not None and g['pattern'] != BACKBONE_NORM
    ]


def resolve(path):
    """The meaning of one config as plain JSON-able data."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, path)).to_dict()
    model = copy.deepcopy(cfg['model'])
    if model.get('type') == 'DFINE':  # the settings DFINE gives its head
        from dfine_mm.models.utils.settings import head_settings

        model['bbox_head'] = head_settings(
            model['bbox_head'], model['decoder'], 'DFINE'
        )
    hooks, switch = [], None
    for hook in cfg.get('custom_hooks', []):
        hook = dict(hook)
        if hook['type'] in SWITCH_HOOKS:
            epoch = hook.get('switch_epoch', hook.get('stop_epoch'))
            if epoch is None:
                epoch = cfg['stop_epoch']
            pipeline = hook.get('switch_pipeline')
            if pipeline is None:
                pipeline = cfg['train_pipeline_stage2']
            switch = dict(epoch=epoch, pipeline=pipeline)
            continue
        hooks.append(hook)
    augments = model['data_preprocessor'].pop('batch_augments', None) or []
    multi_scale = []
    for aug in augments:
        stop = aug.get('stop_epoch')
        if stop is None:  # the mode-switch hook sets it, else the default
            stop = switch['epoch'] if switch is not None else 10**9
        multi_scale.append(dict(type=aug['type'], scales=_scales(aug),
                                stop_epoch=stop))  # fmt: skip
    optim = copy.deepcopy(cfg.get('optim_wrapper', {}))
    paramwise = optim.pop('paramwise_cfg', {})
    loaders = {}
    for split in ('train', 'val', 'test'):
        loader = copy.deepcopy(cfg[f'{split}_dataloader'])
        loader['dataset'].pop('pipeline', None)
        loaders[split] = loader
    out = dict(
        dataloaders=loaders,
        evaluators=[cfg.get('val_evaluator'), cfg.get('test_evaluator')],
        runtime={
            k: cfg.get(k)
            for k in (
                'custom_imports',
                'default_scope',
                'env_cfg',
                'log_processor',
                'visualizer',
                'log_level',
                'resume',
                'randomness',
                'val_cfg',
                'test_cfg',
            )
        },
        model=model,
        multi_scale=multi_scale,
        train_pipeline=cfg['train_dataloader']['dataset'].get('pipeline'),
        switch=switch,
        val_pipeline=cfg['val_dataloader']['dataset']['pipeline'],
        test_pipeline=cfg['test_dataloader']['dataset']['pipeline'],
        optim_wrapper=optim,
        param_groups=_groups(paramwise.get('groups', [])),
        hooks=hooks,
        default_hooks=cfg.get('default_hooks'),
        param_scheduler=cfg.get('param_scheduler'),
        train_cfg=cfg.get('train_cfg'),
        train_batch_size=cfg['train_dataloader']['batch_size'],
        load_from=cfg.get('load_from'),
        auto_scale_lr=cfg.get('auto_scale_lr'),
    )
    return json.loads(json.dumps(out, default=str))


if __name__ == '__main__':
    snapshot = {path: resolve(path) for path in shipped_configs()}
    with open(sys.argv[1], 'w') as f:
        json.dump(snapshot, f, indent=1, sort_keys=True)
