"""mmengine Runner checkpoints load under torch's weights_only default."""

import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import EMAHook, Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch.utils.data import Dataset

import dfine_mm  # noqa: F401  (registers the safe globals)

MAX_ITERS = 2


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.bn(self.fc(torch.stack(inputs))).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(labels)) ** 2).mean())
        return out


class ToyDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(
            inputs=torch.randn(2, generator=gen),
            labels=torch.tensor(float(index)),
        )


def build_runner(work_dir, max_iters, resume=False, load_from=None, name=''):
    torch.manual_seed(0)  # the same initial weights in every run
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'toy_{name}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='pseudo_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=4)
        ],
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=MAX_ITERS, by_epoch=False
            ),
            logger=dict(type='LoggerHook', interval=1),
        ),
        custom_hooks=[dict(type='EMAHook')],
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from,
    )


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('runner'))
    build_runner(work_dir, MAX_ITERS, name='train').train()
    path = osp.join(work_dir, f'iter_{MAX_ITERS}.pth')
    assert osp.isfile(path)
    return path


def test_plain_torch_rejects_it_without_dfine_mm(runner_checkpoint):
    """Guard the premise in a process that never imports dfine_mm: the
    checkpoint needs more than torch's defaults, and fails to load."""
    code = textwrap.dedent(
        f"""
        import pickle
        import torch
        import torch.nn as nn
        from mmengine.runner import load_checkpoint
        path = {runner_checkpoint!r}
        print(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        try:
            load_checkpoint(nn.Linear(2, 1), path)
        except pickle.UnpicklingError as e:
            print('rejected', e)
        """
    )
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True
    )
    assert 'rejected' in out.stdout, out.stdout + out.stderr
    for name in (
        'mmengine.logging.history_buffer.HistoryBuffer',
        'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar',
        'builtins.getattr',
    ):
        assert name in out.stdout


def test_load_checkpoint_after_import(runner_checkpoint):
    model = ToyModel()
    checkpoint = load_checkpoint(model, runner_checkpoint)
    assert checkpoint['meta']['iter'] == MAX_ITERS
    buffers = checkpoint['message_hub']['log_scalars']
    loss = buffers['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert np.isfinite(loss.mean())
    assert len(loss.data[0]) == MAX_ITERS
    assert 'ema_state_dict' in checkpoint
    saved = checkpoint['state_dict']['fc.weight']
    assert torch.equal(model.fc.weight.data, saved)


class ProbeHook(Hook):
    """Records the state a run is in when it starts iteration MAX_ITERS."""

    def __init__(self):
        self.seen = {}

    def before_train(self, runner):
        self.seen['start_iter'] = runner.iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter != MAX_ITERS:
            return
        ema_hook = next(h for h in runner.hooks if isinstance(h, EMAHook))
        self.seen['lr'] = runner.optim_wrapper.get_lr()['lr'][0]
        self.seen['ema'] = {
            k: v.clone() for k, v in ema_hook.ema_model.state_dict().items()
        }
        self.seen['model'] = {
            k: v.clone() for k, v in runner.model.state_dict().items()
        }


def test_resume_continues(runner_checkpoint, tmp_path):
    # the reference: the same schedule without interruption
    straight = build_runner(str(tmp_path), MAX_ITERS + 2, name='straight')
    expected = ProbeHook()
    straight.register_hook(expected, priority='LOWEST')
    straight.train()

    work_dir = osp.dirname(runner_checkpoint)
    resumed = build_runner(
        work_dir,
        MAX_ITERS + 2,
        resume=True,
        load_from=runner_checkpoint,
        name='resume',
    )
    probe = ProbeHook()
    resumed.register_hook(probe, priority='LOWEST')
    resumed.train()
    assert probe.seen['start_iter'] == MAX_ITERS
    assert probe.seen['lr'] == pytest.approx(expected.seen['lr'])
    assert probe.seen['lr'] != pytest.approx(0.01)  # still warming up
    for part in ('ema', 'model'):
        got, want = probe.seen[part], expected.seen[part]
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], msg=key)
    assert resumed.iter == MAX_ITERS + 2
    assert osp.isfile(osp.join(work_dir, f'iter_{MAX_ITERS + 2}.pth'))


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class _ReachesAttribute:
    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_checkpoint_with_a_callable_is_rejected(tmp_path):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save(
        {'state_dict': ToyModel().state_dict(), 'x': _RunsShell(marker)},
        path,
    )
    with pytest.raises(pickle.UnpicklingError, match='system'):
        load_checkpoint(ToyModel(), path)
    assert not marker.exists()


def test_plain_reference_to_os_system_is_rejected(tmp_path):
    path = str(tmp_path / 'ref.pth')
    torch.save({'state_dict': {}, 'hook': os.system}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = str(tmp_path / 'getattr.pth')
    torch.save({'state_dict': {}, 'x': _ReachesAttribute()}, path)
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(path)
