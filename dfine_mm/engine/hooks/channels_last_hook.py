"""Run a detector's convolutions in channels-last memory format in
training."""

from typing import List, Sequence, Tuple

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ...models.utils.inference import to_channels_last
from .model_parts import model_parts


def _channels_last_input(module: nn.Module, args: Tuple) -> Tuple:
    """Forward pre-hook: the convolution's input in channels-last format
    (a no-op when it already is)."""
    x = args[0]
    if isinstance(x, Tensor) and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *args[1:])


@HOOKS.register_module()
class DFineChannelsLastHook(Hook):
    """Run the convolutions of the listed parts of the model (by default
    backbone and neck) in channels-last memory format (docs/benchmarks.md:
    faster convolutions on the CPU). Only the memory format changes, not a
    value.

    A model that runs in one process gets the parts' parameters in
    channels-last format; the convolutions follow their weights. A model in
    a wrapper (DistributedDataParallel and mmengine's other wrappers) keeps
    its parameters' format: DDP maps each parameter's gradient to its
    buckets by the parameter's strides when it wraps the model, which
    happens before any hook runs, and changing the parameters' format
    afterwards mixes up gradient elements (a two-process test compares the
    averaged gradients). There each ``nn.Conv2d`` of the parts is given its
    input in channels-last format instead (a forward pre-hook, removed
    after the run); a convolution then computes and returns channels-last
    tensors. Both ways run the same channels-last kernels forward; the
    single-process way is kept because its results are those of earlier
    releases (the demo's mAP).

    Runs before ``EMAHook`` copies the model (priority ``ABOVE_NORMAL``), so
    the EMA copy computes the same way.

    Args:
        parts (Sequence[str]): Attribute names of the model's parts.
            Defaults to ``('backbone', 'neck')``.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, parts: Sequence[str] = ('backbone', 'neck')) -> None:
        self.parts = tuple(parts)
        self._handles: List[RemovableHandle] = []

    def before_run(self, runner) -> None:
        model = runner.model
        wrapped = is_model_wrapper(model)
        if wrapped:
            model = model.module
        modules = model_parts(model, self.parts, 'DFineChannelsLastHook')
        parts = ', '.join(self.parts)
        if not wrapped:
            to_channels_last(model, self.parts)
            print_log(
                f'{parts} in channels-last memory format', logger='current'
            )
            return
        if self._handles:  # a second run (e.g. test after train)
            return
        for part in modules:
            for module in part.modules():
                if isinstance(module, nn.Conv2d):
                    self._handles.append(
                        module.register_forward_pre_hook(_channels_last_input)
                    )
        print_log(
            f'the {len(self._handles)} convolutions of {parts} take '
            'channels-last inputs (the parameters keep their format: the '
            'model is wrapped)',
            logger='current',
        )

    def after_run(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
