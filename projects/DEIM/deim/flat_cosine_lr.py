"""DEIM's flat-cosine learning-rate schedule as an mmengine scheduler."""

import math
from typing import List, Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS


def flat_cosine_factor(
    step: int, warmup: int, flat: int, no_aug: int, total: int, gamma: float
) -> float:
    """The schedule's LR at iteration ``step`` as a fraction of the base LR:

    - ``(step / warmup) ** 2`` up to ``warmup`` (quadratic warm-up);
    - 1 up to ``flat``;
    - ``gamma`` from ``total - no_aug`` on (the tail without augmentation);
    - in between, cosine from 1 down to ``gamma`` over
      ``total - flat - no_aug`` iterations.

    The phases are tested in this order, so a ``flat`` below ``warmup``
    skips the flat phase and a ``flat`` beyond ``total`` (DEIM-N) keeps the
    LR at 1 after warm-up.
    """
    if step <= warmup:
        return (step / warmup) ** 2
    if step <= flat:
        return 1.0
    if step >= total - no_aug:
        return gamma
    progress = (step - flat) / (total - flat - no_aug)
    return gamma + (1 - gamma) * 0.5 * (1 + math.cos(math.pi * progress))


@PARAM_SCHEDULERS.register_module()
class DEIMFlatCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Warm-up, flat, cosine and flat again, per iteration (DEIM's
    ``FlatCosineLRScheduler``), scaling each parameter group's LR.

    The original steps its schedule after each optimizer step, so the LR
    of iteration k >= 1 is :func:`flat_cosine_factor` of k - 1, and
    iteration 0 runs at 1/500 of the base LR (its unused linear warm-up
    sets that once); this scheduler does the same, so LRs match the
    original's iteration by iteration. Use it epoch-based with
    ``convert_to_iter_based=True``::

        param_scheduler = [dict(type='DEIMFlatCosineLR', warmup_iters=2000,
                                flat_epoch=64, no_aug_epoch=12,
                                lr_gamma=0.5, convert_to_iter_based=True)]

    (the run's length is the training loop's ``max_epochs``, which the
    runner gives as ``end``).

    Args:
        optimizer: The wrapped optimizer.
        warmup_iters (int): Iterations of the quadratic warm-up.
        flat_iters (int): Last iteration at the base LR.
        no_aug_iters (int): Iterations of the final constant tail.
        total_iters (int): Iterations of the whole run.
        lr_gamma (float): Final LR as a fraction of the base LR.
        **kwargs: ``_ParamScheduler`` arguments (``last_step``,
            ``verbose``); ``by_epoch`` must be False.

    Raises:
        ValueError: ``by_epoch=True`` or non-positive warm-up.
    """

    def __init__(
        self,
        optimizer,
        warmup_iters: int,
        flat_iters: int,
        no_aug_iters: int,
        total_iters: int,
        lr_gamma: float = 0.5,
        begin: int = 0,
        end: int = INF,
        by_epoch: bool = False,
        **kwargs,
    ) -> None:
        if by_epoch:
            raise ValueError(
                'DEIMFlatCosineLR runs per iteration: give epochs with '
                'convert_to_iter_based=True, or iteration counts'
            )
        if warmup_iters <= 0 or no_aug_iters < 0:
            raise ValueError(
                f'warmup_iters must be > 0 and no_aug_iters >= 0, got '
                f'{warmup_iters} and {no_aug_iters}'
            )
        self.warmup_iters = warmup_iters
        self.flat_iters = flat_iters
        self.no_aug_iters = no_aug_iters
        self.total_iters = total_iters
        self.lr_gamma = lr_gamma
        super().__init__(
            optimizer, begin=begin, end=end, by_epoch=False, **kwargs
        )

    @classmethod
    def build_iter_from_epoch(
        cls,
        *args,
        flat_epoch: int,
        no_aug_epoch: int,
        epoch_length: int,
        max_epochs: Optional[int] = None,
        begin: int = 0,
        end: int = INF,
        by_epoch: bool = True,
        **kwargs,
    ) -> 'DEIMFlatCosineLR':
        """The scheduler from epochs (the original's config keys).

        ``max_epochs`` defaults to ``end``, which mmengine's runner sets to
        the training loop's epochs; ``begin`` and ``end`` are converted to
        iterations like every epoch-based scheduler's.
        """
        if max_epochs is None:
            if end == INF:
                raise ValueError(
                    'DEIMFlatCosineLR needs max_epochs (or end): the length '
                    'of the run'
                )
            max_epochs = end
        return cls(
            *args,
            flat_iters=int(flat_epoch * epoch_length),
            no_aug_iters=int(no_aug_epoch * epoch_length),
            total_iters=int(max_epochs * epoch_length),
            begin=int(begin * epoch_length),
            end=INF if end == INF else int(end * epoch_length),
            by_epoch=False,
            **kwargs,
        )

    def _get_value(self) -> List[float]:
        step = self.last_step
        if step == 0:
            return [base / 500 for base in self.base_values]
        factor = flat_cosine_factor(
            step - 1, self.warmup_iters, self.flat_iters, self.no_aug_iters,
            self.total_iters, self.lr_gamma,
        )  # fmt: skip
        return [base * factor for base in self.base_values]
