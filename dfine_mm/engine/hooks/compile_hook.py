"""Compile parts of a detector with ``torch.compile`` for training."""

import inspect
from typing import Optional, Sequence

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from .model_parts import model_parts


def check_compile_cfg(compile_cfg: Optional[dict]) -> dict:
    """``compile_cfg`` as a dict (None: empty), checked against the keyword
    arguments of ``torch.compile``.

    Raises:
        ValueError: When it has a key ``torch.compile`` does not take.
    """
    compile_cfg = dict(compile_cfg or {})
    accepted = set(inspect.signature(torch.compile).parameters) - {'model'}
    unknown = sorted(set(compile_cfg) - accepted)
    if unknown:
        raise ValueError(
            f'DFineCompileHook: compile_cfg has {unknown}, which '
            f'torch.compile does not take; use some of {sorted(accepted)}'
        )
    return compile_cfg


def compile_parts(
    model: nn.Module,
    parts: Sequence[str] = ('backbone', 'neck'),
    compile_cfg: Optional[dict] = None,
) -> None:
    """Compile the listed sub-modules of ``model`` in place
    (``nn.Module.compile``): their parameters, buffers and state-dict keys
    stay as they are, so checkpoints load and save as before.

    Args:
        model (nn.Module): The detector (not a wrapper).
        parts (Sequence[str]): Attribute names of its sub-modules.
            Defaults to ``('backbone', 'neck')``.
        compile_cfg (dict, optional): Keyword arguments of
            ``torch.compile`` (e.g. ``dict(mode='max-autotune')`` or
            ``dict(backend='aot_eager')``). Defaults to None (its
            defaults: the inductor backend).

    Raises:
        ValueError: When the model lacks a part, a part is a PyTorch
            module (``nn.Sequential``: not compiled that way) or
            ``compile_cfg`` has a key ``torch.compile`` does not take.
    """
    compile_cfg = check_compile_cfg(compile_cfg)
    modules = model_parts(model, parts, 'DFineCompileHook')
    builtin = [p for p, m in zip(parts, modules)
               if type(m).__module__.startswith('torch.')]  # fmt: skip
    if builtin:
        # TorchDynamo does not trace a PyTorch module's own forward when it
        # is the compiled call: it would run uncompiled, silently
        raise ValueError(
            f'DFineCompileHook: {builtin} are PyTorch modules (e.g. '
            'nn.Sequential), which nn.Module.compile leaves uncompiled; '
            'list sub-modules with a forward of their own'
        )
    for module in modules:
        module.compile(**compile_cfg)


@HOOKS.register_module()
class DFineCompileHook(Hook):
    """Compile the listed parts of the model (by default backbone and neck,
    the convolutions' part of the step) with ``torch.compile`` before
    training. Same values up to float rounding; faster once compiled
    (docs/benchmarks.md: a D-FINE-S step on the CPU), after a first step
    that compiles (minutes on a small CPU). Each new input size compiles
    again until PyTorch switches the part to dynamic shapes (its default
    after the second size).

    The parts are compiled in place, so state-dict keys, checkpoints and
    the other hooks see the model unchanged; a deep copy (``EMAHook``'s
    averaged model) is not compiled. This happens in ``before_train``,
    after ``DFineChannelsLastHook`` set the memory format in
    ``before_run``, which the compiled code then assumes. A wrapped model
    (DistributedDataParallel) has the parts of the model inside it
    compiled. Validation runs the compiled parts too (in eval mode: one
    more compilation).

    Args:
        parts (Sequence[str]): Attribute names of the model's parts.
            Defaults to ``('backbone', 'neck')``.
        compile_cfg (dict, optional): Keyword arguments of
            ``torch.compile``. Defaults to None (its defaults).
    """

    priority = 'LOW'

    def __init__(
        self,
        parts: Sequence[str] = ('backbone', 'neck'),
        compile_cfg: Optional[dict] = None,
    ) -> None:
        self.parts = tuple(parts)
        self.compile_cfg = check_compile_cfg(compile_cfg)  # at build time
        self._done = False

    def before_train(self, runner) -> None:
        if self._done:
            return
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        compile_parts(model, self.parts, self.compile_cfg)
        self._done = True
        print_log(
            f'{", ".join(self.parts)} compiled with torch.compile'
            f'({self.compile_cfg or ""}); the first training step compiles '
            'them',
            logger='current',
        )
