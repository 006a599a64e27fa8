"""Command-line pieces shared by tools/train.py and tools/test.py."""

import argparse
import logging
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .cpu_distributed import setup_cpu_distributed


def add_runner_arguments(parser: argparse.ArgumentParser, example: str):
    """``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override config entries, e.g. {example}',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser, argv=None):
    """Parse, and export LOCAL_RANK for launchers that pass --local-rank."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options``, ``--launcher`` and ``--work-dir``
    (default ``./work_dirs/<config name>``) applied."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def amp_or_fp32(cfg: Config, amp: bool = False) -> Config:
    """Mixed precision where a GPU can run it, fp32 otherwise.

    The COCO configs keep the original recipe's ``AmpOptimWrapper``;
    ``amp=True`` (``--amp``) asks for it on any config. mmengine's
    ``AmpOptimWrapper`` needs a CUDA (or NPU / MLU / MUSA) device, so on a
    machine without one the optimizer wrapper falls back to fp32
    ``OptimWrapper`` with one warning instead of stopping at mmengine's
    assertion.

    Args:
        cfg (Config): Changed in place.
        amp (bool): Turn AMP on (mmdet's ``--amp``). Defaults to False.

    Returns:
        Config: ``cfg``.
    """
    wrapper = cfg.optim_wrapper
    if amp and wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    if wrapper.get('type') == 'AmpOptimWrapper' and not (
        torch.cuda.is_available()
    ):
        wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            wrapper.pop(key, None)
        print_log(
            'AmpOptimWrapper (mixed precision) needs a GPU and none is '
            'available: training in fp32 with OptimWrapper',
            logger='current',
            level=logging.WARNING,
        )
    return cfg


def build_runner(cfg: Config) -> Runner:
    """mmengine's Runner (or the config's ``runner_type``); on machines
    without CUDA, torchrun launches use gloo (see
    :func:`setup_cpu_distributed`)."""
    setup_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
