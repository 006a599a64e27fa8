"""Two processes with torchrun (gloo, CPU): tools/dist_train.sh trains a
few iterations without hanging, and loss normalisers are averaged over
the processes."""

import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

from helpers import DEMO_CONFIG, REPO_ROOT, cli_options, tiny_train_options

TIMEOUT = 600


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def environment():
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    env['OMP_NUM_THREADS'] = '1'
    env['PORT'] = str(free_port())
    return env


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
    result = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), DEMO_CONFIG,
         '2', '--cfg-options', *args],
        cwd=REPO_ROOT, env=environment(), capture_output=True, text=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    # 24 images, 2 per process and 2 processes: 6 iterations
    assert 'Epoch(train) [1][6/6]' in log
    assert 'coco/bbox_mAP' in log
    assert osp.exists(osp.join(work_dir, 'epoch_1.pth'))


def test_normalisers_are_averaged_over_processes(tmp_path):
    script = tmp_path / 'check.py'
    script.write_text(
        textwrap.dedent(
            """
            import sys

            import torch.distributed as dist
            from dfine_mm.models.utils.go_lsd import (
                mean_over_processes)

            dist.init_process_group('gloo')
            rank = dist.get_rank()
            # 1 and 4 ground truths on the two processes -> 2.5 on both
            value = mean_over_processes([1, 4][rank], 'cpu')
            assert value == 2.5, value
            # no ground truth anywhere -> clamped to 1
            assert mean_over_processes(0, 'cpu') == 1.0
            # one file per rank: printed lines of two processes interleave
            open(f'{sys.argv[1]}/rank{rank}.ok', 'w').close()
            dist.destroy_process_group()
            """
        )
    )
    env = environment()
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={env["PORT"]}', str(script), str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert (tmp_path / 'rank0.ok').exists()
    assert (tmp_path / 'rank1.ok').exists()
