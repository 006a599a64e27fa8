"""tools/train.py and tools/test.py on a tiny synthetic run: resume keeps
the iteration, learning rate and EMA state; test evaluates a checkpoint."""

import copy
import os.path as osp

import pytest
import torch
from helpers import (
    DEMO_CONFIG,
    REPO_ROOT,
    MMEngineLogRecords,
    load_tool,
    tiny_train_options,
)
from mmdet.registry import HOOKS
from mmengine.hooks import EMAHook, Hook
from mmengine.runner import Runner

from dfine_mm.datasets.synthetic import synthetic_classes


@HOOKS.register_module(force=True)
class RecordTrainState(Hook):
    """Records iteration, LR and EMA weights at the start and end, and the
    loss of every iteration."""

    records = []
    losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):  # fmt: skip
        self.losses[runner.iter] = float(outputs['loss'])

    def _record(self, runner, when):
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        state = copy.deepcopy(ema.ema_model.state_dict())
        lr = runner.optim_wrapper.get_lr()['lr'][0]
        self.records.append((when, runner.iter, lr, state))

    def before_train(self, runner):
        self._record(runner, 'start')

    def after_train(self, runner):
        self._record(runner, 'end')


def config(args, options):
    train = load_tool('train')
    cfg = train.build_config(train.parse_args([DEMO_CONFIG, *args]))
    cfg.merge_from_dict(options)
    cfg.custom_hooks.append(dict(type='RecordTrainState'))
    return cfg


@pytest.fixture(scope='module')
def resumed_run(synthetic_coco, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('resume'))
    options = tiny_train_options(synthetic_coco, work_dir)
    options.update(
        {
            'param_scheduler.0.end': 20,  # still warming up at iteration 12
            'default_hooks.checkpoint.interval': 1,
            'train_cfg.val_interval': 2,
        }
    )
    RecordTrainState.records.clear()
    RecordTrainState.losses.clear()
    first = config([], dict(options, **{'train_cfg.max_epochs': 1}))
    Runner.from_cfg(first).train()
    second = config(['--resume'], dict(options, **{'train_cfg.max_epochs': 2}))
    Runner.from_cfg(second).train()
    losses = [
        RecordTrainState.losses[i] for i in sorted(RecordTrainState.losses)
    ]
    return work_dir, list(RecordTrainState.records), losses


def test_resume_restores_iteration_lr_and_ema(resumed_run):
    _, records, _ = resumed_run
    _, end_1, start_2, end_2 = records
    assert end_1[0] == 'end' and start_2[0] == 'start'
    # 24 images, 2 per batch: 12 iterations per epoch
    assert end_1[1] == 12 and start_2[1] == 12 and end_2[1] == 24
    assert start_2[2] == pytest.approx(end_1[2])
    assert start_2[2] < end_2[2]  # the warm-up went on after resuming
    for key, value in end_1[3].items():
        assert torch.equal(start_2[3][key], value), key


def test_the_loss_falls_over_the_run(resumed_run):
    """Learning, not just running: over the 24 iterations (both runs, the
    LR still warming up) the loss falls between the first and the last
    eight iterations (measured: 46.2 -> 42.4)."""
    _, _, losses = resumed_run
    assert len(losses) == 24  # 2 epochs of 12 iterations
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < 0.95 * first, losses


def _test_tool_metrics(config, checkpoint, work_dir, options=None):
    test = load_tool('test')
    cfg = test.build_config(
        test.parse_args([config, checkpoint, '--work-dir', work_dir])
    )
    cfg.merge_from_dict(options or {})
    assert cfg.load_from == checkpoint
    return Runner.from_cfg(cfg).test()


def test_test_tool_shows_what_training_learnt(trained_demo, tmp_path):
    """tools/test.py on the briefly trained checkpoint and on the same
    model before training (measured over seeds and thread counts: mAP
    0.03-0.05 and mAP@50 0.04-0.20 after, 0.0 and 0.0 before)."""
    config, work_dir = trained_demo.config, str(tmp_path)
    before = _test_tool_metrics(config, trained_demo.untrained, work_dir)
    after = _test_tool_metrics(config, trained_demo.checkpoint, work_dir)
    assert after['coco/bbox_mAP'] > before['coco/bbox_mAP']
    assert after['coco/bbox_mAP_50'] > before['coco/bbox_mAP_50']


def test_command_line_options_reach_the_config(tmp_path):
    train = load_tool('train')
    cfg = train.build_config(
        train.parse_args(
            [DEMO_CONFIG, '--amp', '--auto-scale-lr', '--work-dir',
             str(tmp_path), '--resume', 'some/epoch_3.pth', '--cfg-options',
             'train_dataloader.batch_size=3']
        )
    )  # fmt: skip
    # no GPU here: --amp falls back to fp32 (see the tests below)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.auto_scale_lr.enable
    assert cfg.work_dir == str(tmp_path)
    assert cfg.resume and cfg.load_from == 'some/epoch_3.pth'
    assert cfg.train_dataloader.batch_size == 3


S_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'dfine', 'dfine-s_hgnetv2-b0_4xb8-132e_coco.py'
)


def test_amp_where_a_gpu_exists(monkeypatch):
    """--amp and the COCO configs' AmpOptimWrapper stay mixed precision
    when CUDA is available (mmengine then builds AmpOptimWrapper)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    train = load_tool('train')
    cfg = train.build_config(train.parse_args([DEMO_CONFIG, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg = train.build_config(train.parse_args([S_CONFIG]))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_coco_config_trains_on_a_cpu_only_machine(
    tmp_path, synthetic_coco, monkeypatch
):
    """The D-FINE-S COCO config (AmpOptimWrapper) on a machine without a
    GPU: one warning, fp32, and training steps run (tiny data set)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    train = load_tool('train')
    options = {
        'train_dataloader.dataset.data_root': synthetic_coco + '/',
        'train_dataloader.dataset.ann_file': 'annotations/'
        'instances_train.json',
        'train_dataloader.dataset.data_prefix.img': 'train/',
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.indices': 4,
        'train_dataloader.dataset.metainfo.classes': '('
        + ','.join(synthetic_classes(5))
        + ')',
        'model.bbox_head.num_classes': 5,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_begin': 2,
        'custom_hooks': [],
        'model.backbone.init_cfg': None,
        'model.data_preprocessor.batch_augments': None,
    }
    argv = [S_CONFIG, '--work-dir', str(tmp_path), '--cfg-options']
    argv += [f'{k}={v}' for k, v in options.items()]
    with MMEngineLogRecords() as records:
        cfg = train.build_config(train.parse_args(argv))
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    warnings = [m for m in records.messages if 'needs a GPU' in m]
    assert len(warnings) == 1, records.messages
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None  # no COCO
    runner = train.build_runner(cfg)
    runner.train()
    assert type(runner.optim_wrapper).__name__ == 'OptimWrapper'
    assert runner.iter == 2


def test_resume_and_test_accept_an_official_checkpoint(
    synthetic_coco, tmp_path
):
    """--resume and tools/test.py read an official D-FINE file directly:
    training starts at epoch 0 from its weights (the class heads, 80 rows
    there and 5 here, are re-initialised)."""
    official = osp.join(
        REPO_ROOT, 'tests', 'data', 'official_n', 'official_n_perturbed.pth'
    )
    state = torch.load(official, weights_only=True)['model']
    stem = state['backbone.stem.stem1.conv.weight']
    options = tiny_train_options(synthetic_coco, str(tmp_path))
    options['train_cfg.max_epochs'] = 1
    RecordTrainState.records.clear()
    RecordTrainState.losses.clear()
    Runner.from_cfg(config(['--resume', official], options)).train()
    (start, end) = RecordTrainState.records
    assert start[1] == 0 and end[1] == 12
    assert torch.equal(start[3]['module.backbone.stem.stem1.conv.weight'],
                       stem)  # fmt: skip
    metrics = _test_tool_metrics(
        DEMO_CONFIG, official, str(tmp_path),
        tiny_train_options(synthetic_coco, str(tmp_path)),
    )  # fmt: skip
    assert 'coco/bbox_mAP' in metrics
