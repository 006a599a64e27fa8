"""Peak resident memory of a stretch of code, for the benchmark tools.

The CUDA counterpart, :class:`CudaPeakMemoryGrowth`, lives in
:mod:`dfine_mm.testing.cuda_memory`; it is imported here too, so the older
import path keeps working.
"""

import resource
from typing import Optional

from .cuda_memory import CudaPeakMemoryGrowth

__all__ = ['CudaPeakMemoryGrowth', 'PeakMemoryGrowth']


def _status_kib(field: str) -> Optional[int]:
    """A ``kB`` field of ``/proc/self/status`` (Linux), else None."""
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    """Reset the process's peak resident set (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')
    except OSError:
        return False
    return _status_kib('VmHWM') is not None


class PeakMemoryGrowth:
    """How far the resident set rose above its starting size inside a
    ``with`` block, in MiB (:attr:`mib`, set on exit).

    On Linux the peak is reset on entry (``/proc/self/clear_refs``), so a
    high-water mark reached before the block (building the model, say)
    does not hide the block's own peak. Elsewhere the growth of
    ``ru_maxrss`` over the block is used, which is 0 when the block stays
    below the earlier peak.
    """

    def __init__(self) -> None:
        self.mib = 0.0
        self._resettable = False
        self._start_kib = 0

    def __enter__(self) -> 'PeakMemoryGrowth':
        self._resettable = _reset_high_water_mark()
        if self._resettable:
            self._start_kib = _status_kib('VmRSS')
        else:
            self._start_kib = resource.getrusage(
                resource.RUSAGE_SELF
            ).ru_maxrss
        return self

    def __exit__(self, *exc_info) -> None:
        if self._resettable:
            peak_kib = _status_kib('VmHWM')
        else:
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.mib = max(peak_kib - self._start_kib, 0) / 1024
