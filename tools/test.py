"""Evaluate a checkpoint with the config's evaluator (mmdet-compatible CLI).

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --show-dir vis --out results.pkl
    bash tools/dist_test.sh CONFIG CHECKPOINT 4
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from dfine_mm.utils.cpu_distributed import setup_cpu_distributed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the metrics are written')
    parser.add_argument('--out', help='dump predictions to a .pkl file')
    parser.add_argument(
        '--show-dir', help='save drawn predictions under work_dir/DIR'
    )
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help='drawing threshold'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=4',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise ValueError(
                '--show-dir needs default_hooks.visualization '
                '(mmdet DetVisualizationHook) in the config'
            )
        hooks.visualization.update(
            draw=True, test_out_dir=args.show_dir, score_thr=args.score_thr
        )
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        cfg.test_evaluator = [
            *(
                cfg.test_evaluator
                if isinstance(cfg.test_evaluator, list)
                else [cfg.test_evaluator]
            ),
            dict(type='DumpDetResults', out_file_path=args.out),
        ]
    return cfg


def main(argv=None) -> dict:
    cfg = build_config(parse_args(argv))
    setup_cpu_distributed(cfg)  # torchrun on a machine without CUDA
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
