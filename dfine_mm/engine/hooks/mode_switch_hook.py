"""One switch for the end of D-FINE's strong-augmentation phase."""

import logging
from typing import Optional, Sequence

from mmdet.engine.hooks import PipelineSwitchHook
from mmdet.registry import HOOKS
from mmengine.logging import print_log


@HOOKS.register_module()
class DFineModeSwitchHook(PipelineSwitchHook):
    """At ``stop_epoch``, switch the training pipeline and stop the batch
    multi-scale resize (the original's ``stop_epoch`` ends both).

    ``stop_epoch`` defaults to the config's top-level ``stop_epoch``, read
    when training starts, so a child config that sets ``stop_epoch = 7``
    moves both switches (mmengine does not re-evaluate a base file's
    lists, so a value baked into them would not follow). Every
    ``DFineBatchMultiScaleResize`` in the data preprocessor's
    ``batch_augments`` gets the same ``stop_epoch``.

    Args:
        switch_pipeline (list[dict], optional): The training pipeline from
            ``stop_epoch`` on. Defaults to None (the config's
            ``train_pipeline_stage2``, read when training starts).
        stop_epoch (int, optional): First (0-based) epoch of the final
            phase. Defaults to None (the config's ``stop_epoch``).
    """

    priority = 'NORMAL'

    def __init__(
        self,
        switch_pipeline: Optional[Sequence[dict]] = None,
        stop_epoch: Optional[int] = None,
    ) -> None:
        super().__init__(
            switch_epoch=stop_epoch, switch_pipeline=switch_pipeline
        )

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
            'DFineModeSwitchHook: training pipeline switch'
            + (' and multi-scale stop' if resizes else '')
            + f' at epoch {self.switch_epoch}',
            logger='current',
            level=logging.INFO,
        )
