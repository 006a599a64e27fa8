"""The training-phase switches of D-FINE (and DEIM's earlier stages)."""

import logging
from typing import List, Optional, Sequence

from mmcv.transforms import Compose
from mmdet.datasets import MultiImageMixDataset
from mmdet.engine.hooks import PipelineSwitchHook
from mmdet.registry import HOOKS, TRANSFORMS
from mmengine.logging import print_log


@HOOKS.register_module()
class DFineModeSwitchHook(PipelineSwitchHook):
    """At ``stop_epoch``, switch the training pipeline and stop the batch
    multi-scale resize (the original's ``stop_epoch`` ends both); before
    it, optional earlier ``stages`` (DEIM's epoch policy).

    ``stop_epoch`` defaults to the config's top-level ``stop_epoch``, read
    when training starts, so a child config that sets ``stop_epoch = 7``
    moves both switches (mmengine does not re-evaluate a base file's
    lists, so a value baked into them would not follow). Every
    ``DFineBatchMultiScaleResize`` in the data preprocessor's
    ``batch_augments`` gets the same ``stop_epoch``.

    Each stage ``dict(epoch=e, pipeline=[...])`` makes ``pipeline`` the
    training pipeline from epoch e until the next stage or ``stop_epoch``;
    a run resumed at any epoch gets the stage of that epoch. With mmdet's
    ``MultiImageMixDataset`` (DEIM's Mosaic) the wrapper's pipeline is
    replaced. Workers restart at each switch (mmdet's way for persistent
    workers).

    Args:
        switch_pipeline (list[dict], optional): The training pipeline from
            ``stop_epoch`` on. Defaults to None (the config's
            ``train_pipeline_stage2``, read when training starts).
        stop_epoch (int, optional): First (0-based) epoch of the final
            phase. Defaults to None (the config's ``stop_epoch``).
        stages (Sequence[dict], optional): Earlier stages, increasing
            ``epoch``, all before ``stop_epoch``. Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(
        self,
        switch_pipeline: Optional[Sequence[dict]] = None,
        stop_epoch: Optional[int] = None,
        stages: Optional[Sequence[dict]] = None,
    ) -> None:
        super().__init__(
            switch_epoch=stop_epoch, switch_pipeline=switch_pipeline
        )
        self.stages = [
            dict(epoch=int(s['epoch']), pipeline=list(s['pipeline']))
            for s in stages or []
        ]
        self._current: Optional[int] = None  # epoch of the active stage

    def before_train(self, runner) -> None:
        from ...models.data_preprocessors import DFineBatchMultiScaleResize

        if self.switch_epoch is None:
            self.switch_epoch = runner.cfg.get('stop_epoch')
        if self.switch_pipeline is None:
            self.switch_pipeline = runner.cfg.get('train_pipeline_stage2')
            if self.switch_pipeline is None:
                raise ValueError(
                    'DFineModeSwitchHook needs switch_pipeline: set it on '
                    'the hook or as train_pipeline_stage2 in the config'
                )
        if not isinstance(self.switch_epoch, int):
            raise ValueError(
                'DFineModeSwitchHook needs stop_epoch: set it on the hook or '
                f'as a top-level config value, got {self.switch_epoch!r}'
            )
        epochs = [s['epoch'] for s in self.stages] + [self.switch_epoch]
        if epochs != sorted(set(epochs)):
            raise ValueError(
                f'DFineModeSwitchHook stages must start at increasing epochs '
                f'before stop_epoch ({self.switch_epoch}), got {epochs[:-1]}'
            )
        model = getattr(runner.model, 'module', runner.model)
        preprocessor = getattr(model, 'data_preprocessor', None)
        resizes = [
            aug
            for aug in getattr(preprocessor, 'batch_augments', None) or []
            if isinstance(aug, DFineBatchMultiScaleResize)
        ]
        for resize in resizes:
            resize.stop_epoch = self.switch_epoch
        print_log(
            f'{type(self).__name__}: '
            + ''.join(f'stage at epoch {e}, ' for e in epochs[:-1])
            + 'training pipeline switch'
            + (' and multi-scale stop' if resizes else '')
            + f' at epoch {self.switch_epoch}',
            logger='current',
            level=logging.INFO,
        )

    def _stages(self) -> List[dict]:
        return self.stages + [
            dict(epoch=self.switch_epoch, pipeline=self.switch_pipeline)
        ]

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_dataloader
        if self._restart_dataloader:  # the restart of the last switch ran
            loader._DataLoader__initialized = True
            self._restart_dataloader = False
        due = [s for s in self._stages() if s['epoch'] <= runner.epoch]
        if not due or due[-1]['epoch'] == self._current:
            return
        stage = due[-1]
        self._current = stage['epoch']
        self._has_switched = stage['epoch'] == self.switch_epoch
        set_pipeline(loader.dataset, stage['pipeline'])
        runner.logger.info(
            f'{type(self).__name__}: pipeline of epoch {stage["epoch"]} on'
        )
        if getattr(loader, 'persistent_workers', False) is True:
            loader._DataLoader__initialized = False
            loader._iterator = None
            self._restart_dataloader = True


def set_pipeline(dataset, pipeline: Sequence[dict]) -> None:
    """Make ``pipeline`` the data set's training pipeline (for mmdet's
    ``MultiImageMixDataset``, the wrapper's list of transforms)."""
    if isinstance(dataset, MultiImageMixDataset):
        dataset.pipeline = [TRANSFORMS.build(t) for t in pipeline]
        dataset.pipeline_types = [t['type'] for t in pipeline]
    else:
        dataset.pipeline = Compose(pipeline)
