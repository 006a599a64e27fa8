"""DFineModeSwitchHook: a child config's ``stop_epoch`` moves both the
pipeline switch and the end of the batch multi-scale resize."""

from types import SimpleNamespace

import pytest
import torch
from helpers import REPO_ROOT, det_samples, runner_and_hook
from mmdet.registry import HOOKS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.logging import MessageHub

S_CONFIG = f'{REPO_ROOT}/configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py'


def _runner(tmp_path, lines):
    return runner_and_hook(
        tmp_path, S_CONFIG, lines, 'DFineModeSwitchHook',
        lambda cfg: SimpleNamespace(pipeline='stage 1'),
    )  # fmt: skip


def _resized_side(runner, epoch):
    MessageHub.get_current_instance().update_info('epoch', epoch)
    (resize,) = runner.model.data_preprocessor.batch_augments
    inputs = torch.zeros(2, 3, 64, 64)
    out, _ = resize(inputs, det_samples([1, 1], 64, 64))
    return out.shape[-1]


def test_child_stop_epoch_moves_both_switches(tmp_path):
    hub = MessageHub.get_current_instance()
    epoch = hub.get_info('epoch')
    try:
        runner, hook = _runner(tmp_path, 'stop_epoch = 7\n')
        hook.before_train(runner)
        (resize,) = runner.model.data_preprocessor.batch_augments
        assert hook.switch_epoch == 7 and resize.stop_epoch == 7
        for e in (0, 6):
            runner.epoch = e
            hook.before_train_epoch(runner)
            assert runner.train_dataloader.dataset.pipeline == 'stage 1'
            assert _resized_side(runner, e) in resize.scales
        runner.epoch = 7
        hook.before_train_epoch(runner)
        names = [
            type(t).__name__
            for t in runner.train_dataloader.dataset.pipeline.transforms
        ]
        assert 'DFinePhotometricDistort' not in names  # stage 2
        assert 'Resize' in names
        assert _resized_side(runner, 7) == 64  # multi-scale off
    finally:
        hub.update_info('epoch', epoch)


def test_base_stop_epoch_and_multi_scale_list(tmp_path):
    runner, hook = _runner(tmp_path, '')
    hook.before_train(runner)
    (resize,) = runner.model.data_preprocessor.batch_augments
    assert hook.switch_epoch == 120 == resize.stop_epoch
    # the original's list for S: 640 twenty times
    assert resize.scales == ([480, 512, 544, 576, 608] + [640] * 20
                             + [800, 768, 736, 704, 672])  # fmt: skip


def test_missing_stop_epoch_is_an_error():
    hook = HOOKS.build(dict(type='DFineModeSwitchHook', switch_pipeline=[]))
    runner = SimpleNamespace(cfg=Config({}), model=None)
    with pytest.raises(ValueError, match='stop_epoch'):
        hook.before_train(runner)


def _names(pipeline):
    transforms = getattr(pipeline, 'transforms', pipeline)
    return [type(t).__name__ for t in transforms]


FLIP = [dict(type='RandomFlip', prob=0.5)]
PAD = [dict(type='Pad', size=(8, 8))]


def test_stages_switch_at_their_epochs_and_on_resume(tmp_path):
    """DEIM's policy: stages at epochs 2 and 4, the final switch at 6, run
    through the hook (workers restarted at each switch)."""
    stages = f'dict(epoch=2, pipeline={FLIP}), dict(epoch=4, pipeline={PAD})'
    runner, hook = _runner(
        tmp_path,
        'stop_epoch = 6\n'
        f"custom_hooks = [dict(type='DFineModeSwitchHook', "
        f'stages=[{stages}])]\n',
    )
    runner.train_dataloader.persistent_workers = True
    hook.before_train(runner)
    seen = []
    for epoch in range(8):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        pipeline = runner.train_dataloader.dataset.pipeline
        seen.append('stage 1' if pipeline == 'stage 1' else _names(pipeline))
    assert seen[:2] == ['stage 1'] * 2
    assert seen[2] == seen[3] == ['RandomFlip']
    assert seen[4] == seen[5] == ['Pad']
    assert 'Resize' in seen[6] and 'DFinePhotometricDistort' not in seen[6]
    assert seen[7] == seen[6]
    # a run resumed at epoch 5 starts in the stage of epoch 4
    runner, hook = _runner(
        tmp_path,
        'stop_epoch = 6\n'
        f"custom_hooks = [dict(type='DFineModeSwitchHook', "
        f'stages=[{stages}])]\n',
    )
    hook.before_train(runner)
    runner.epoch = 5
    hook.before_train_epoch(runner)
    assert _names(runner.train_dataloader.dataset.pipeline) == ['Pad']


def test_stages_must_come_before_stop_epoch(tmp_path):
    runner, hook = _runner(
        tmp_path,
        'stop_epoch = 3\n'
        "custom_hooks = [dict(type='DFineModeSwitchHook', "
        f'stages=[dict(epoch=4, pipeline={PAD})])]\n',
    )
    with pytest.raises(ValueError, match='increasing epochs'):
        hook.before_train(runner)


def test_mix_dataset_gets_a_list_of_transforms():
    from mmdet.datasets import MultiImageMixDataset

    from dfine_mm.engine.hooks.mode_switch_hook import set_pipeline

    register_all_modules()
    dataset = MultiImageMixDataset.__new__(MultiImageMixDataset)
    set_pipeline(dataset, FLIP + PAD)
    assert _names(dataset.pipeline) == ['RandomFlip', 'Pad']
    assert dataset.pipeline_types == ['RandomFlip', 'Pad']
