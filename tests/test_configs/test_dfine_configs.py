"""Every D-FINE config loads; the recipes hold the original's settings."""

import glob
import os.path as osp

import pytest
from helpers import REPO_ROOT
from mmengine.config import Config

CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', 'dfine', '**', '*.py'),
              recursive=True)
)  # fmt: skip
# variant -> (epochs, stop epoch, lr, backbone lr, images per GPU,
#             times 640 appears in the multi-scale list or None)
COCO = dict(
    n=(160, 148, 8e-4, 4e-4, 32, None),
    s=(132, 120, 2e-4, 1e-4, 8, 20),
    m=(132, 120, 2e-4, 2e-5, 8, 6),
    l=(80, 72, 2.5e-4, 1.25e-5, 8, 4),
    x=(80, 72, 2.5e-4, 2.5e-6, 8, 3),
)


def test_every_config_loads():
    assert len(CONFIGS) >= 20
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        head = cfg.model.bbox_head
        assert cfg.model.type == 'DFINE', path
        assert head.loss_cls.type == 'DFineVarifocalLoss', path
        # the ablation arms switch parts of GO-LSD off (docs/ablation.md)
        ablation = osp.basename(osp.dirname(path)) == 'ablation'
        full_golsd = head.union_matching and head.get('loss_ddf') is not None
        assert full_golsd != ablation, path
        # set once, on the decoder: DFINE gives the head its value
        assert 'num_pred_layer' not in head, path
        hooks = [h.type for h in cfg.custom_hooks]
        assert 'EMAHook' in hooks and 'DFineInvalidLossHook' in hooks, path


@pytest.mark.parametrize('variant', sorted(COCO))
def test_coco_recipe(variant):
    (path,) = glob.glob(
        osp.join(REPO_ROOT, 'configs', 'dfine', f'dfine-{variant}_*_coco.py')
    )
    cfg = Config.fromfile(path)
    epochs, stop, lr, backbone_lr, per_gpu, repeat = COCO[variant]
    assert cfg.train_cfg.max_epochs == epochs
    (switch,) = [
        h for h in cfg.custom_hooks if h.type == 'DFineModeSwitchHook'
    ]
    assert cfg.stop_epoch == stop and switch.get('stop_epoch') is None
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper'
    assert optim.clip_grad.max_norm == 0.1
    assert optim.optimizer.lr == lr
    assert optim.paramwise_cfg.groups.backbone.lr == backbone_lr
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == 4 * per_gpu
    warmup = cfg.param_scheduler[0]
    assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 500,
                                                          False)  # fmt: skip
    (ema,) = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert (ema.momentum, ema.gamma, ema.update_buffers) == (1e-4, 1000, True)
    augments = cfg.model.data_preprocessor.get('batch_augments')
    if repeat is None:
        assert augments is None
    else:
        (resize,) = augments  # stopped by the switch hook at stop_epoch
        assert (resize.base_size, resize.base_size_repeat) == (640, repeat)
        assert 'stop_epoch' not in resize  # nearest interpolation (default)
    # the strong augmentations are gone after the switch
    strong = {'DFinePhotometricDistort', 'Expand', 'RandomApply'}
    assert strong <= {t.type for t in cfg.train_pipeline}
    # the hook switches to the config's train_pipeline_stage2
    assert switch.get('switch_pipeline') is None
    assert not strong & {t.type for t in cfg.train_pipeline_stage2}


def test_objects365_to_coco_remaps_the_class_heads():
    paths = glob.glob(
        osp.join(REPO_ROOT, 'configs', 'dfine', 'objects365', '*-to-coco.py')
    )
    assert len(paths) == 5, paths  # N-X
    for path in paths:
        cfg = Config.fromfile(path)
        assert cfg.custom_hooks[0].type == 'DFineClassRemapHook'
        assert cfg.param_scheduler == []
        assert cfg.model.bbox_head.num_classes == 80


def test_evaluation_resizes_to_640_without_keeping_the_ratio():
    """As the original evaluates. (A second ``val_dataloader`` assignment
    in the L base once replaced the first, so every COCO config evaluated
    at mmdet's 1333x800 keep-ratio resize.)"""
    for path in CONFIGS:
        if 'synthetic' in path:
            continue
        cfg = Config.fromfile(path)
        for split in ('val', 'test'):
            loader = cfg[f'{split}_dataloader']
            (resize,) = [
                t for t in loader.dataset.pipeline if t.type == 'Resize'
            ]
            assert resize.scale == (640, 640), (path, split)
            assert resize.keep_ratio is False, (path, split)
            assert loader.batch_size == 8, (path, split)
