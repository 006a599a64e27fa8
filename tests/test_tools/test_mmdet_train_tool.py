"""mmdet's own tools/train.py (shipped in the mmdet wheel under .mim)
trains our configs: the plugin comes in through custom_imports."""

import os.path as osp
import subprocess
import sys

import mmdet
from helpers import DEMO_CONFIG, REPO_ROOT, cli_options, tiny_train_options

MMDET_TRAIN = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                       'train.py')  # fmt: skip


def test_mmdet_train_tool_runs_our_config(synthetic_coco, tmp_path):
    work_dir = str(tmp_path / 'work')
    options = tiny_train_options(synthetic_coco, work_dir)
    options.update(
        {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
         'default_hooks.checkpoint.interval': 1}
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, MMDET_TRAIN, DEMO_CONFIG, '--cfg-options']
        + cli_options(options),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][12/12]' in log
    assert 'coco/bbox_mAP' in log
    assert osp.exists(osp.join(work_dir, 'epoch_1.pth'))
