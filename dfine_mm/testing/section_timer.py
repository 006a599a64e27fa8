"""Exclusive wall times of nested sections (``benchmark_train --profile``)."""

import contextlib
import time
from collections import defaultdict
from typing import Dict, Iterator, List

import torch


class SectionTimer:
    """Exclusive wall time of named, possibly nested, sections.

    A section's exclusive time leaves out the sections nested in it; its
    inclusive time does not. On CUDA the device is synchronised at every
    section boundary, so a section's time holds the kernels it queued.

    Args:
        device (str): ``'cpu'`` or a CUDA device such as ``'cuda'``.

    Attributes:
        totals (dict[str, float]): Section name to exclusive seconds.
        inclusive (dict[str, float]): Section name to inclusive seconds.
    """

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')
        self.totals: Dict[str, float] = defaultdict(float)
        self.inclusive: Dict[str, float] = defaultdict(float)
        self._stack: List[float] = []

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as section ``name`` (times add up over
        calls)."""
        self._sync()
        start = time.perf_counter()
        self._stack.append(0.0)
        try:
            yield
        finally:
            self._sync()
            elapsed = time.perf_counter() - start
            nested = self._stack.pop()
            self.totals[name] += elapsed - nested
            self.inclusive[name] += elapsed
            if self._stack:
                self._stack[-1] += elapsed

    def wrap(self, owner: object, attribute: str, name: str) -> None:
        """Time every call of ``owner.attribute`` as section ``name``."""
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.section(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)
