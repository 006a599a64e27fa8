"""Keep freed host memory in the heap while a runner works on the CPU."""

import logging

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...utils.glibc_malloc import (
    MAX_TRIM_THRESHOLD,
    check_trim_threshold,
    keep_freed_memory,
    release_freed_memory,
)


@HOOKS.register_module()
class DFineMallocHook(Hook):
    """On the CPU, let glibc keep the memory a training step frees for the
    next step instead of returning it to the system
    (:func:`~dfine_mm.utils.glibc_malloc.keep_freed_memory`).

    glibc maps every block over 32 MiB afresh and unmaps it when freed, so
    each step pays a page fault per 4 KiB of its large activations; on a
    2-core VM the hook made ``make demo`` and a D-FINE-S training step
    markedly faster (docs/benchmarks.md, "Page faults in the CPU step").
    Values are unchanged (the demo's losses and mAP were identical); the
    resident memory stays near its peak. The settings are process-wide and
    are undone after the run (:meth:`after_run`).

    Nothing is changed (and a line is logged) when the model is not on the
    CPU, where the host does not hold the activations, or when the C
    library is not glibc. As a default hook it also acts in a test run
    (``tools/test.py``), whose forward passes fault the same way.

    The shipped recipes register it as ``default_hooks.malloc``;
    ``--cfg-options default_hooks.malloc.enabled=False`` turns it off
    (mmengine accepts None only for its own default hooks).

    Args:
        enabled (bool): Change the allocator at all. Defaults to True.
        trim_threshold (int): Free bytes at the top of the heap kept before
            it is trimmed. Defaults to 2**31 - 1 (the largest glibc takes).
    """

    priority = 'VERY_LOW'

    def __init__(
        self, enabled: bool = True, trim_threshold: int = MAX_TRIM_THRESHOLD
    ) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f'enabled must be True or False, got {enabled!r}.')
        self.enabled = enabled
        self.trim_threshold = check_trim_threshold(trim_threshold)
        self.applied = False

    def before_run(self, runner) -> None:
        if not self.enabled:
            print_log(
                'DFineMallocHook: disabled; the host allocator is left as '
                'it is',
                logger='current',
            )
            return
        parameter = next(runner.model.parameters(), None)
        device = 'cpu' if parameter is None else parameter.device.type
        if device != 'cpu':
            print_log(
                f'DFineMallocHook: the model is on {device}; the host '
                'allocator is left as it is',
                logger='current',
            )
            return
        self.applied = keep_freed_memory(self.trim_threshold)
        if self.applied:
            print_log(
                'DFineMallocHook: freed host memory is kept for the next '
                'step (glibc mallopt: M_MMAP_MAX=0, M_TRIM_THRESHOLD='
                f'{self.trim_threshold})',
                logger='current',
            )
        else:
            print_log(
                'DFineMallocHook: the C library is not glibc; the host '
                'allocator is left as it is',
                logger='current',
                level=logging.WARNING,
            )

    def after_run(self, runner) -> None:
        if self.applied:
            release_freed_memory()
            self.applied = False
