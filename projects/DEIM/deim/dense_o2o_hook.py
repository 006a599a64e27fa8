"""DEIM's Dense O2O epoch policy: when the Mosaic and MixUp run."""

import logging
from typing import Optional, Sequence, Tuple

from mmdet.registry import HOOKS
from mmengine.logging import print_log
from torch import nn

from dfine_mm.engine.hooks import DFineModeSwitchHook

from .batch_mixup import DEIMBatchMixUp


@HOOKS.register_module()
class DEIMDenseO2OHook(DFineModeSwitchHook):
    """D-FINE's mode switch with DEIM's Dense O2O phases before it.

    With ``mosaic_epochs = (e0, e1)`` (the original's ``policy.epoch[:2]``)
    and ``stop_epoch`` (its ``policy.epoch[2]``), training runs (0-based
    epochs):

    - before e0: the data set's own pipeline (the DEIM configs: no
      augmentation);
    - from e0 to e1: ``mosaic_pipeline`` (the Mosaic on half the images,
      D-FINE's augmentation on the rest);
    - from e1 to ``stop_epoch``: ``augment_pipeline`` (D-FINE's);
    - from ``stop_epoch``: ``switch_pipeline``, the batch multi-scale
      resize off (as :class:`DFineModeSwitchHook`).

    Batch MixUp: a :class:`DEIMBatchMixUp` built from ``mixup`` goes in
    front of the data preprocessor's ``batch_augments`` when training
    starts (the original mixes in its collate function, before the
    multi-scale resize) and runs within ``mixup_epochs``; one already in
    ``batch_augments`` is used instead and gets those epochs.

    Epochs and pipelines left None are the config's top-level
    ``mosaic_epochs``, ``mixup_epochs``, ``stop_epoch``,
    ``train_pipeline_mosaic``, ``train_pipeline_augment`` and
    ``train_pipeline_stage2``, read when training starts, so a child
    config that sets ``mosaic_epochs = (2, 10)`` moves the switch. Equal
    epochs turn the mosaic (or MixUp) off.

    Args:
        mosaic_epochs (tuple[int], optional): First epoch with and first
            without the mosaic pipeline. Defaults to None.
        mixup_epochs (tuple[int], optional): First epoch with and first
            without MixUp. Defaults to None.
        mosaic_pipeline (list[dict], optional): Defaults to None.
        augment_pipeline (list[dict], optional): Defaults to None.
        mixup (dict, optional): :class:`DEIMBatchMixUp` arguments other than
            ``epochs``. Defaults to None (its defaults: probability 0.5).
            Equal ``mixup_epochs`` turn MixUp off.
        switch_pipeline (list[dict], optional): See
            :class:`DFineModeSwitchHook`.
        stop_epoch (int, optional): See :class:`DFineModeSwitchHook`.
    """

    def __init__(
        self,
        mosaic_epochs: Optional[Tuple[int, int]] = None,
        mixup_epochs: Optional[Tuple[int, int]] = None,
        mosaic_pipeline: Optional[Sequence[dict]] = None,
        augment_pipeline: Optional[Sequence[dict]] = None,
        mixup: Optional[dict] = None,
        switch_pipeline: Optional[Sequence[dict]] = None,
        stop_epoch: Optional[int] = None,
    ) -> None:
        super().__init__(switch_pipeline=switch_pipeline,
                         stop_epoch=stop_epoch)  # fmt: skip
        self.mosaic_epochs = mosaic_epochs
        self.mixup_epochs = mixup_epochs
        self.mosaic_pipeline = mosaic_pipeline
        self.augment_pipeline = augment_pipeline
        self.mixup = dict(mixup or {})

    def before_train(self, runner) -> None:
        cfg = runner.cfg
        mosaic_epochs = self._setting(cfg, 'mosaic_epochs', 'mosaic_epochs')
        mixup_epochs = self._setting(cfg, 'mixup_epochs', 'mixup_epochs')
        self.stages = [
            dict(epoch=int(mosaic_epochs[0]), pipeline=list(self._setting(
                cfg, 'mosaic_pipeline', 'train_pipeline_mosaic'))),
            dict(epoch=int(mosaic_epochs[1]), pipeline=list(self._setting(
                cfg, 'augment_pipeline', 'train_pipeline_augment'))),
        ][mosaic_epochs[0] == mosaic_epochs[1] :]  # fmt: skip
        self._set_mixup(runner, tuple(int(e) for e in mixup_epochs))
        super().before_train(runner)

    def _setting(self, cfg, attr: str, key: str):
        value = getattr(self, attr)
        if value is None:
            value = cfg.get(key)
        if value is None:
            raise ValueError(
                f'DEIMDenseO2OHook needs {attr}: set it on the hook or as '
                f'{key} at the top level of the config'
            )
        if attr.endswith('_epochs') and len(value) != 2:
            raise ValueError(
                f'{attr} must be (first epoch with, first epoch without), '
                f'got {value!r}'
            )
        return value

    def _set_mixup(self, runner, epochs: Tuple[int, int]) -> None:
        model = getattr(runner.model, 'module', runner.model)
        preprocessor = model.data_preprocessor
        augments = getattr(preprocessor, 'batch_augments', None)
        mixups = [a for a in augments or [] if isinstance(a, DEIMBatchMixUp)]
        if not mixups:
            mixups = [DEIMBatchMixUp(**self.mixup)]
            preprocessor.batch_augments = nn.ModuleList(
                mixups + list(augments or [])
            )
        for mixup in mixups:
            mixup.epochs = epochs
        print_log(
            f'DEIMDenseO2OHook: batch MixUp in epochs [{epochs[0]}, '
            f'{epochs[1]})',
            logger='current',
            level=logging.INFO,
        )
