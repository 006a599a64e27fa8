"""Evaluate a checkpoint with the config's evaluator (mmdet-compatible CLI).

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --show-dir vis --out results.pkl
    bash tools/dist_test.sh CONFIG CHECKPOINT 4
"""

import argparse

from mmengine.config import Config

from dfine_mm.datasets.check import check_data_paths
from dfine_mm.utils.runner_cli import (
    add_runner_arguments,
    build_runner,
    load_config,
    parse_runner_args,
)


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
    add_runner_arguments(parser, 'test_dataloader.batch_size=4')
    return parse_runner_args(parser, argv)


def build_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied."""
    cfg = load_config(args)
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
    check_data_paths(cfg, ['test'])
    runner = build_runner(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
