"""Train a detector with mmengine's Runner (mmdet-compatible CLI).

Examples::

    python tools/train.py configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py
    python tools/train.py CONFIG --amp --resume
    bash tools/dist_train.sh CONFIG 4
"""

import argparse

from mmengine.config import Config
from mmengine.logging import print_log

from dfine_mm.datasets.check import (
    check_coco_dataset,
    check_data_paths,
    dataset_files,
)
from dfine_mm.utils.runner_cli import (
    add_runner_arguments,
    amp_or_fp32,
    build_runner,
    load_config,
    parse_runner_args,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (AmpOptimWrapper; fp32 with a '
        'warning where no GPU exists, as for the COCO configs)',
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by total batch / auto_scale_lr.base_batch_size',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or from the latest one in the '
        'work dir when no path is given',
    )
    parser.add_argument(
        '--check-data',
        action='store_true',
        help='decode every training image and check every annotation '
        'first (tools/misc/check_dataset.py); stop on errors',
    )
    add_runner_arguments(parser, 'train_dataloader.batch_size=4')
    return parse_runner_args(parser, argv)


def check_data(cfg: Config) -> None:
    """The ``--check-data`` pre-flight on the training split.

    Raises:
        ValueError: Naming the first bad files of each kind.
    """
    ann_file, img_dir, classes = dataset_files(cfg, 'train')
    report = check_coco_dataset(ann_file, img_dir, classes, workers=2)
    print_log(f'--check-data {ann_file}:\n{report.table()}',
              logger='current')  # fmt: skip
    if not report.ok:
        raise ValueError(
            f'{ann_file}: the training data has errors (run '
            'tools/misc/check_dataset.py for the table):\n'
            + report.first_problems()
        )


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied."""
    cfg = amp_or_fp32(load_config(args), args.amp)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError(
                f'--auto-scale-lr needs auto_scale_lr = dict(enable=..., '
                f'base_batch_size=...) in {args.config}'
            )
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = build_config(args)
    check_data_paths(
        cfg, ['train', 'val'] if cfg.get('val_cfg') else ['train']
    )
    if args.check_data:
        check_data(cfg)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
