"""The DEIM configs: the original's per-variant recipe, and real training
steps (Dense O2O, MAL, the SiLU switches). D-FINE's model size and layouts:
test_deim_checkpoints.py."""

import glob
import os.path as osp
import re

import pytest
import torch
from helpers import REPO_ROOT
from mmdet.registry import HOOKS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dfine_mm.datasets.synthetic import synthetic_classes
from projects.DEIM.deim import DEIMBatchMixUp, DEIMMALLoss

DEIM = osp.join(REPO_ROOT, 'projects', 'DEIM', 'configs')
CONFIGS = sorted(glob.glob(osp.join(DEIM, 'deim-*.py')))
# projects/DEIM/original_behaviour.md §3.4: epochs, policy.epoch, mixup
# epochs, flat_epoch, no_aug_epoch, lr_gamma, lr, backbone lr, weight
# decay, images per GPU (4 GPUs), times 640 in the multi-scale list
RECIPE = dict(
    n=(160, (4, 78, 148), (4, 78), 7800, 12, 1.0, 8e-4, 4e-4, 1e-4, 32, None),
    s=(132, (4, 64, 120), (4, 64), 64, 12, 0.5, 4e-4, 2e-4, 1e-4, 8, 20),
    m=(102, (4, 49, 90), (4, 49), 49, 12, 0.5, 4e-4, 4e-5, 1e-4, 8, 6),
    l=(58, (4, 29, 50), (4, 29), 29, 8, 0.5, 5e-4, 2.5e-5, 1.25e-4, 8, 4),
    x=(58, (4, 29, 50), (4, 29), 29, 8, 0.5, 5e-4, 5e-6, 1.25e-4, 8, 3),
)
# the original's parameter-group regexes (our encoder is `neck`: the
# original's `(?=.*(?:encoder|decoder))` is everything but the backbone)
S_GROUPS = [(r'^(?=.*backbone)(?!.*bn).*$', None),
            (r'^(?=.*(?:norm|bn)).*$', 0.0)]  # fmt: skip
L_GROUPS = [(r'^(?=.*backbone)(?!.*norm|bn).*$', None),
            (r'^(?!.*backbone)(?=.*(?:norm|bn)).*$', 0.0)]  # fmt: skip
N_GROUPS = [(r'^(?=.*backbone)(?!.*norm|bn).*$', None),
            (r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$', 0.0)]  # fmt: skip
GROUPS = dict(n=N_GROUPS, s=S_GROUPS, m=S_GROUPS, l=L_GROUPS, x=L_GROUPS)


def variant_config(variant, project=True):
    root = DEIM if project else osp.join(REPO_ROOT, 'configs', 'dfine')
    prefix = 'deim-dfine' if project else 'dfine'
    (path,) = glob.glob(osp.join(root, f'{prefix}-{variant}_*_coco.py'))
    return Config.fromfile(path)


def test_every_config_is_here():
    names = [osp.basename(p) for p in CONFIGS]
    assert len(names) == 7, names
    assert sum(n.startswith('deim-dino-fdr') for n in names) == 1
    assert sum(n.endswith('_synthetic.py') for n in names) == 1


@pytest.mark.parametrize('variant', sorted(RECIPE))
def test_recipe_is_the_originals(variant):
    cfg = variant_config(variant)
    (epochs, policy, mixup, flat, no_aug, gamma, lr, backbone_lr, decay,
     per_gpu, repeat) = RECIPE[variant]  # fmt: skip
    assert cfg.train_cfg.max_epochs == epochs
    assert (*cfg.mosaic_epochs, cfg.stop_epoch) == policy
    assert tuple(cfg.mixup_epochs) == mixup
    (sched,) = cfg.param_scheduler
    assert sched.type == 'DEIMFlatCosineLR' and sched.convert_to_iter_based
    assert 'max_epochs' not in sched  # the loop's epochs (the runner's end)
    assert (sched.warmup_iters, sched.flat_epoch, sched.no_aug_epoch,
            sched.lr_gamma) == (2000, flat, no_aug, gamma)  # fmt: skip
    optim = cfg.optim_wrapper
    assert (optim.optimizer.lr, optim.optimizer.weight_decay) == (lr, decay)
    groups = list(optim.paramwise_cfg.groups.values())
    assert [(g.pattern, g.get('weight_decay')) for g in groups] == (
        GROUPS[variant]
    )
    assert groups[0].lr == backbone_lr and 'lr' not in groups[1]
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == 4 * per_gpu
    augments = cfg.model.data_preprocessor.get('batch_augments')
    if repeat is None:
        assert augments is None
    else:
        (resize,) = augments  # MixUp goes in front when training starts
        assert resize.base_size_repeat == repeat
    model = cfg.model
    assert model.backbone.frozen_stages == -1
    assert not model.backbone.freeze_norm
    assert (
        model.decoder.act_cfg.type
        == model.decoder.mlp_act_cfg.type
        == ('SiLU')
    )
    assert dict(model.bbox_head.loss_cls) == dict(
        type='DEIMMALLoss', gamma=1.5, loss_weight=1.0
    )
    hooks = [h.type for h in cfg.custom_hooks]
    # channels-last changes the memory format only (speed, not recipe)
    assert hooks == ['DFineChannelsLastHook', 'EMAHook', 'DEIMDenseO2OHook',
                     'DFineInvalidLossHook']  # fmt: skip
    # the pipelines of the phases
    types = lambda name: [t.type for t in cfg[name]]  # noqa: E731
    finish = ['DFineSanitizeBoxes', 'RandomFlip', 'Resize',
              'DFineSanitizeBoxes', 'PackDetInputs']  # fmt: skip
    assert types('train_pipeline') == types('train_pipeline_stage2') == finish
    assert types('train_pipeline_augment') == [
        'DFinePhotometricDistort',
        'Expand',
        'RandomApply',
        *finish,
    ]
    assert types('train_pipeline_mosaic') == [
        'DEIMMosaic', 'DFinePhotometricDistort', 'DEIMSkipAfterMosaic',
        *finish]  # fmt: skip
    mosaic = cfg.train_pipeline_mosaic[0]
    assert (mosaic.output_size, mosaic.prob, mosaic.fill) == (320, 0.5, 0)
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'MultiImageMixDataset'
    assert [t.type for t in dataset.dataset.pipeline] == [
        'DFineLoadImageFromFile',
        'LoadAnnotations',
    ]


@HOOKS.register_module(force=True)
class RecordDEIMStep(Hook):
    """Records the losses and the boxes per image of each step."""

    records = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        boxes = [len(s.gt_instances) for s in data_batch['data_samples']]
        self.records.append(dict(boxes=boxes))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):  # fmt: skip
        self.records[-1].update({k: float(v) for k, v in outputs.items()})


def shrink(node, side):
    """Every resize of a config to ``side`` px, the mosaic certain."""
    if isinstance(node, dict):
        kind = node.get('type')
        if kind == 'DFineBatchMultiScaleResize':
            node.pop('base_size_repeat', None)
            node.update(base_size=None, scales=[side])
        if kind == 'DEIMMosaic':
            node.update(output_size=side // 2, prob=1.0)
        if 'scale' in node:
            node['scale'] = (side, side)
        if 'scales' in node and kind != 'DFineBatchMultiScaleResize':
            node['scales'] = [(side, side)]
        if 'crop_size' in node:
            node['crop_size'] = (side // 2, side)
        for value in node.values():
            shrink(value, side)
    elif isinstance(node, list):
        for value in node:
            shrink(value, side)


def one_step_config(path, data_root, work_dir):
    """The config as shipped but for: 4 synthetic images of 128 px (N: 256,
    enough positions for 300 queries at its 2 levels; DINO: 300 queries
    instead of 900) in one batch, one epoch in the Mosaic + MixUp phase
    (both certain), fp32 on the CPU, no pretrained weights, no evaluation
    or checkpoint."""
    cfg = Config.fromfile(path)
    shrink(cfg._cfg_dict, 256 if '-n_' in path else 128)
    if cfg.model.type == 'FDRDINO':
        cfg.model.num_queries = cfg.model.test_cfg.max_per_img = 300
    inner = cfg.train_dataloader.dataset.dataset
    inner.update(
        data_root=data_root + '/',
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=tuple(synthetic_classes(5))),
        indices=4,
    )
    cfg.train_dataloader.update(batch_size=4, num_workers=0,
                                persistent_workers=False)  # fmt: skip
    cfg.merge_from_dict(dict(
        work_dir=work_dir, mosaic_epochs=(0, 1), mixup_epochs=(0, 1),
        stop_epoch=2, train_cfg=dict(max_epochs=1),
        model=dict(backbone=dict(init_cfg=None)),
        default_hooks=dict(checkpoint=None, logger=dict(interval=1)),
        randomness=dict(seed=0),
    ))  # fmt: skip
    for key in ('val', 'test'):
        cfg[f'{key}_dataloader'] = cfg[f'{key}_cfg'] = None
        cfg[f'{key}_evaluator'] = None
    optim = cfg.optim_wrapper
    if optim.type == 'AmpOptimWrapper':  # no AMP on the CPU
        optim.type = 'OptimWrapper'
        optim.pop('loss_scale')
    (hook,) = [h for h in cfg.custom_hooks if h.type == 'DEIMDenseO2OHook']
    hook.mixup = dict(prob=1.0)
    cfg.custom_hooks.append(dict(type='RecordDEIMStep'))
    return cfg


# every config was run this way (projects/DEIM/README.md); the suite keeps
# S (the S / M optimizer groups), L (the 58-epoch base, L / X groups), DINO
# and the synthetic N, for time: M, X and N on COCO differ from them only in
# the model base, which test_deim_checkpoints.py builds
STEP_CONFIGS = [
    p for p in CONFIGS if not re.search(r'deim-dfine-[mxn]_.*_coco\.py$', p)
]


def test_the_step_subset():
    names = sorted(osp.basename(p) for p in STEP_CONFIGS)
    assert len(names) == 4 and names[0].startswith('deim-dfine-l_')


@pytest.mark.parametrize('path', STEP_CONFIGS, ids=osp.basename)
def test_one_training_step(path, synthetic_coco, tmp_path):
    RecordDEIMStep.records.clear()
    cfg = one_step_config(path, synthetic_coco, str(tmp_path))
    runner = Runner.from_cfg(cfg)
    runner.train()
    (record,) = RecordDEIMStep.records
    assert runner.iter == 1
    assert all(torch.isfinite(torch.tensor(v)) for k, v in record.items()
               if k.startswith('loss'))  # fmt: skip
    assert record['loss_cls'] > 0 and record['loss'] > 0
    model = runner.model
    assert isinstance(model.bbox_head.loss_cls, DEIMMALLoss)
    (mixup,) = [a for a in model.data_preprocessor.batch_augments
                if isinstance(a, DEIMBatchMixUp)]  # fmt: skip
    assert mixup.epochs == (0, 1)
    assert model.data_preprocessor.batch_augments[0] is mixup
