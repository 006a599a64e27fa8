"""Stop training at the first NaN or infinite loss term."""

import math
from typing import Optional

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class DFineInvalidLossHook(Hook):
    """Raise ``FloatingPointError`` when any logged loss term is NaN or
    infinite, naming the iteration and the terms.

    mmdet's ``CheckInvalidLossHook`` checks only the total; knowing which
    term went bad (e.g. ``d2.loss_ddf`` or ``enc_loss_iou``) is what points
    to the cause. The losses are never silently zeroed.

    Args:
        interval (int): Check every this many iterations. Defaults to 1.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: Optional[dict] = None,
        outputs: Optional[dict] = None,
    ) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        values = {
            name: float(v.detach())
            if isinstance(v, torch.Tensor)
            else float(v)
            for name, v in outputs.items()
            if 'loss' in name
        }
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1} (epoch '
                f'{runner.epoch + 1}): {terms}. Lower the learning rate, '
                'check the data for degenerate boxes, or train without '
                '--amp to find the cause.'
            )
