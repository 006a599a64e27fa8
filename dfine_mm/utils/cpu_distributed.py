"""Distributed training on machines without CUDA (gloo)."""

import logging

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


def setup_cpu_distributed(cfg: Config) -> bool:
    """Start the process group for ``launcher='pytorch'`` without CUDA.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device``
    unconditionally (an error on CPU-only torch) and wraps the model with
    ``device_ids=[local_rank]`` (which DistributedDataParallel rejects for
    CPU modules). Without CUDA this starts the gloo process group itself,
    so mmengine skips its own initialisation, and sets the model wrapper's
    ``device_ids`` to None. With CUDA it does nothing.

    Args:
        cfg (Config): The run's config (modified in place).

    Returns:
        bool: Whether the CPU set-up was applied.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not dist.is_initialized():
        backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend')
        if backend not in (None, 'gloo'):
            print_log(
                f'no CUDA device: distributed backend {backend!r} replaced '
                'by gloo',
                logger='current',
                level=logging.WARNING,
            )
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or {}
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
