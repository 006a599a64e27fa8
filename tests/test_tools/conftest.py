"""A briefly trained demo model, shared by the tool tests that need
detections worth comparing (tools/test.py, deploy and evaluate)."""

import os.path as osp
from typing import NamedTuple

import pytest
from helpers import (
    DEMO_CONFIG,
    kept_global_instances,
    load_tool,
    tiny_train_options,
)
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dfine_mm.datasets.synthetic import generate_synthetic_coco

#: 16 epochs of 12 iterations (24 images, 2 per batch), about 30 s
TRAINED_EPOCHS = 16


class TrainedDemo(NamedTuple):
    """Paths of :func:`trained_demo`."""

    config: str  # the training config, dumped (tiny options, this data)
    data_root: str
    checkpoint: str  # after training
    untrained: str  # the same model before its first step


@HOOKS.register_module(force=True)
class SaveUntrained(Hook):
    """Saves the model before its first training step as
    ``untrained.pth``."""

    def before_train(self, runner) -> None:
        runner.save_checkpoint(runner.work_dir, 'untrained.pth')


@pytest.fixture(scope='session')
def trained_demo(tmp_path_factory) -> TrainedDemo:
    """The demo config (64 px, 20 queries, see ``tiny_train_options``)
    trained for 192 iterations on an easy synthetic set: 24 train and 8
    val images with one shape of at least 24 px each, 5 classes. Measured
    on the val images over seeds and thread counts: bbox mAP 0.0 before,
    0.03-0.05 (mAP@50 0.04-0.20) after.
    """
    root = str(tmp_path_factory.mktemp('easy_synthetic'))
    generate_synthetic_coco(
        root, num_train=24, num_val=8, img_size=64, num_classes=5,
        max_objects=1, min_object_size=24,
    )  # fmt: skip
    work_dir = osp.join(root, 'work')
    train = load_tool('train')
    cfg = train.build_config(train.parse_args([DEMO_CONFIG]))
    options = tiny_train_options(root, work_dir)
    options.update(
        {
            'train_cfg.max_epochs': TRAINED_EPOCHS,
            'train_cfg.val_begin': TRAINED_EPOCHS + 1,  # no validation
            'param_scheduler.0.end': 20,
            'default_hooks.checkpoint.interval': TRAINED_EPOCHS,
            'default_hooks.logger.interval': 12,
        }
    )
    cfg.merge_from_dict(options)
    config = osp.join(root, 'trained_demo.py')
    cfg.dump(config)
    cfg.custom_hooks.append(dict(type='SaveUntrained'))
    # a session fixture: the Runner's scope and visualizer would outlive
    # the files' own
    with kept_global_instances():
        Runner.from_cfg(cfg).train()
    return TrainedDemo(
        config,
        root,
        osp.join(work_dir, f'epoch_{TRAINED_EPOCHS}.pth'),
        osp.join(work_dir, 'untrained.pth'),
    )
