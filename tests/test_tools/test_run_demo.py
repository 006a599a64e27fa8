"""tools/run_demo.py end to end on a tiny data set and model."""

import importlib.util
import os.path as osp

import cv2
from helpers import REPO_ROOT, cli_options, tiny_train_options


def test_demo_trains_evaluates_and_draws(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'run_demo', osp.join(REPO_ROOT, 'tools', 'run_demo.py')
    )
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    data_root = str(tmp_path / 'data')
    work_dir = str(tmp_path / 'work')
    options = tiny_train_options(data_root, work_dir)
    options = {
        k: v
        for k, v in options.items()
        if 'data_root' not in k and 'ann_file' not in k
    }
    options['train_cfg.max_epochs'] = 1
    options['train_cfg.val_interval'] = 1
    options['default_hooks.checkpoint.interval'] = 1
    metrics = demo.main(
        ['--work-dir', work_dir, '--data-root', data_root,
         '--num-train', '16', '--num-val', '4', '--img-size', '64',
         '--num-images', '3', '--cfg-options']
        + cli_options(options)
    )  # fmt: skip
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    assert osp.exists(osp.join(work_dir, 'dfine-n_synthetic_demo.pth'))
    image = cv2.imread(osp.join(work_dir, 'predictions.png'))
    # 3 images of 64 px padded to a row of 4
    assert image.shape == (64, 256, 3)
    # the data set is reused when it is already there
    assert osp.exists(osp.join(data_root, 'demo_data.txt'))
