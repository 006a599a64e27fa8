"""Two processes with torchrun (gloo, CPU): tools/dist_train.sh trains a
few iterations without hanging, loss normalisers are averaged over the
processes, and channels-last training keeps the averaged gradients."""

import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

from helpers import DEMO_CONFIG, REPO_ROOT, cli_options, tiny_train_options

TIMEOUT = 600


#: torchrun's messages when its rendezvous port was taken meanwhile
PORT_TAKEN = ('address already in use', 'eaddrinuse')
ATTEMPTS = 3


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def environment():
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['OMP_NUM_THREADS'] = '1'
    return env


def run_distributed(command):
    """Runs ``command(port)`` (an argv list) with a free port in ``PORT``.

    The port is free when chosen but another process may bind it before
    torchrun does; such a run fails at once with 'address already in use'
    and is retried on a new port (at most ``ATTEMPTS`` runs).

    Returns:
        tuple: (return code, stdout + stderr) of the last run.
    """
    for _ in range(ATTEMPTS):
        env = environment()
        env['PORT'] = port = str(free_port())
        result = subprocess.run(
            command(port), cwd=REPO_ROOT, env=env, capture_output=True,
            text=True, timeout=TIMEOUT,
        )  # fmt: skip
        log = result.stdout + result.stderr
        taken = any(message in log.lower() for message in PORT_TAKEN)
        if result.returncode == 0 or not taken:
            break
    return result.returncode, log


def test_dist_train_two_processes(synthetic_coco, tmp_path):
    work_dir = str(tmp_path / 'work')
    options = tiny_train_options(synthetic_coco, work_dir)
    options.update(
        {
            'train_cfg.max_epochs': 1,
            'train_cfg.val_interval': 1,
        }
    )
    args = cli_options(options)
    returncode, log = run_distributed(
        lambda port: ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'),
                      DEMO_CONFIG, '2', '--cfg-options', *args]
    )  # fmt: skip
    assert returncode == 0, log[-3000:]
    # 24 images, 2 per process and 2 processes: 6 iterations
    assert 'Epoch(train) [1][6/6]' in log
    assert 'coco/bbox_mAP' in log
    assert osp.exists(osp.join(work_dir, 'epoch_1.pth'))


def test_normalisers_and_channels_last_gradients_over_processes(tmp_path):
    """Loss normalisers are averaged over the processes, and
    ``DFineChannelsLastHook`` added after DistributedDataParallel wrapped
    the model (as mmengine's runner orders them) keeps the averaged
    gradients right."""
    script = tmp_path / 'check.py'
    script.write_text(
        textwrap.dedent(
            """
            import copy
            import sys
            from types import SimpleNamespace

            import torch
            import torch.distributed as dist
            from torch import nn

            from dfine_mm.engine.hooks import DFineChannelsLastHook
            from dfine_mm.models.utils.go_lsd import (
                mean_over_processes)

            dist.init_process_group('gloo')
            rank = dist.get_rank()
            # 1 and 4 ground truths on the two processes -> 2.5 on both
            value = mean_over_processes([1, 4][rank], 'cpu')
            assert value == 2.5, value
            # no ground truth anywhere -> clamped to 1
            assert mean_over_processes(0, 'cpu') == 1.0

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.Sequential(
                        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 4, 1))
                    self.neck = nn.Conv2d(4, 2, 3)

                def forward(self, x):
                    return self.neck(self.backbone(x))

            torch.manual_seed(0)
            net = Net()
            alone = copy.deepcopy(net)
            wrapped = nn.parallel.DistributedDataParallel(net)
            hook = DFineChannelsLastHook()
            runner = SimpleNamespace(model=wrapped)
            hook.before_run(runner)
            images = [
                torch.rand(2, 3, 9, 9,
                           generator=torch.Generator().manual_seed(r))
                for r in range(2)]
            out = wrapped(images[rank])
            assert out.is_contiguous(memory_format=torch.channels_last)
            out.square().sum().backward()
            grads = []
            for image in images:  # each process's gradients, alone
                alone.zero_grad()
                alone(image).square().sum().backward()
                grads.append([p.grad.clone() for p in alone.parameters()])
            for param, *alone_grads in zip(net.parameters(), *grads):
                assert param.is_contiguous()
                torch.testing.assert_close(
                    param.grad, sum(alone_grads) / 2, rtol=1e-4, atol=1e-5)
            hook.after_run(runner)  # the pre-hooks go
            out = wrapped(images[rank])
            assert not out.is_contiguous(memory_format=torch.channels_last)
            # one file per rank: printed lines of two processes interleave
            open(f'{sys.argv[1]}/rank{rank}.ok', 'w').close()
            dist.destroy_process_group()
            """
        )
    )
    returncode, log = run_distributed(
        lambda port: [sys.executable, '-m', 'torch.distributed.run',
                      '--nproc_per_node=2', f'--master_port={port}',
                      str(script), str(tmp_path)]
    )  # fmt: skip
    assert returncode == 0, log[-3000:]
    assert (tmp_path / 'rank0.ok').exists()
    assert (tmp_path / 'rank1.ok').exists()


def test_a_port_taken_meanwhile_is_retried(monkeypatch):
    """The first port drawn is bound by someone else by the time the
    command runs: the run fails with EADDRINUSE and runs again on the next
    port."""
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port, free_port()])
        monkeypatch.setattr(
            sys.modules[__name__], 'free_port', lambda: next(ports)
        )
        bind = (
            'import os, socket; '
            "socket.socket().bind(('127.0.0.1', int(os.environ['PORT'])))"
        )
        used = []

        def command(port):
            used.append(port)
            return [sys.executable, '-c', bind]

        returncode, log = run_distributed(command)
    assert returncode == 0, log
    assert used[0] == str(taken_port) and len(used) == 2
