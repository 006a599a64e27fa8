"""tools/train.py and tools/test.py on a tiny synthetic run: resume keeps
the iteration, learning rate and EMA state; test evaluates a checkpoint."""

import copy
import importlib.util
import os.path as osp

import pytest
import torch
from helpers import DEMO_CONFIG, REPO_ROOT, tiny_train_options
from mmdet.registry import HOOKS
from mmengine.hooks import EMAHook, Hook
from mmengine.runner import Runner


def load_tool(name):
    path = osp.join(REPO_ROOT, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@HOOKS.register_module(force=True)
class RecordTrainState(Hook):
    """Records iteration, LR and EMA weights at the start and end."""

    records = []

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
    first = config([], dict(options, **{'train_cfg.max_epochs': 1}))
    Runner.from_cfg(first).train()
    second = config(['--resume'], dict(options, **{'train_cfg.max_epochs': 2}))
    Runner.from_cfg(second).train()
    return work_dir, list(RecordTrainState.records)


def test_resume_restores_iteration_lr_and_ema(resumed_run):
    _, records = resumed_run
    _, end_1, start_2, end_2 = records
    assert end_1[0] == 'end' and start_2[0] == 'start'
    # 24 images, 2 per batch: 12 iterations per epoch
    assert end_1[1] == 12 and start_2[1] == 12 and end_2[1] == 24
    assert start_2[2] == pytest.approx(end_1[2])
    assert start_2[2] < end_2[2]  # the warm-up went on after resuming
    for key, value in end_1[3].items():
        assert torch.equal(start_2[3][key], value), key


def test_test_tool_evaluates_the_checkpoint(resumed_run, synthetic_coco):
    work_dir, _ = resumed_run
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    test = load_tool('test')
    cfg = test.build_config(
        test.parse_args([DEMO_CONFIG, checkpoint, '--work-dir', work_dir])
    )
    cfg.merge_from_dict(tiny_train_options(synthetic_coco, work_dir))
    metrics = Runner.from_cfg(cfg).test()
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    assert cfg.load_from == checkpoint


def test_command_line_options_reach_the_config(tmp_path):
    train = load_tool('train')
    cfg = train.build_config(
        train.parse_args(
            [DEMO_CONFIG, '--amp', '--auto-scale-lr', '--work-dir',
             str(tmp_path), '--resume', 'some/epoch_3.pth', '--cfg-options',
             'train_dataloader.batch_size=3']
        )
    )  # fmt: skip
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable
    assert cfg.work_dir == str(tmp_path)
    assert cfg.resume and cfg.load_from == 'some/epoch_3.pth'
    assert cfg.train_dataloader.batch_size == 3
