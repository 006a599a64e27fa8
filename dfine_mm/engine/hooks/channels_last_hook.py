"""Run a detector's convolutional part in channels-last memory format."""

from typing import Sequence

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ...models.utils.inference import to_channels_last


@HOOKS.register_module()
class DFineChannelsLastHook(Hook):
    """Put the listed parts of the model (by default backbone and neck) in
    channels-last memory format before the run (docs/benchmarks.md: faster
    convolutions on the CPU). Only the memory format changes, not a value.

    Runs before ``EMAHook`` copies the model (priority ``ABOVE_NORMAL``), so
    the EMA copy has the same format. Convolutions follow the format of
    their weights, so the inputs need no conversion.

    Args:
        parts (Sequence[str]): Attribute names of the model's parts.
            Defaults to ``('backbone', 'neck')``.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, parts: Sequence[str] = ('backbone', 'neck')) -> None:
        self.parts = tuple(parts)

    def before_run(self, runner) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        missing = [p for p in self.parts if getattr(model, p, None) is None]
        if missing:
            raise ValueError(
                f'DFineChannelsLastHook: the model has no {missing}; set '
                "parts to some of its sub-modules (e.g. ('backbone',))"
            )
        to_channels_last(model, self.parts)
        print_log(
            f'{", ".join(self.parts)} in channels-last memory format',
            logger='current',
        )
