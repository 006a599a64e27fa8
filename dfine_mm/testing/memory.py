"""Peak resident memory of a stretch of code, and a steady heap, for the
benchmark tools."""

import ctypes
import ctypes.util
import resource
from typing import Optional


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


class CudaPeakMemoryGrowth:
    """How far the memory PyTorch allocated on a CUDA device rose above
    its starting amount inside a ``with`` block, in MiB (:attr:`mib`, set
    on exit): ``torch.cuda.max_memory_allocated`` after a reset of the
    peak on entry, less ``memory_allocated`` on entry. Pending kernels are
    waited for at both ends.

    Args:
        device (str | torch.device): The CUDA device. Defaults to
            ``'cuda'`` (the current one).
    """

    def __init__(self, device='cuda') -> None:
        self.device = device
        self.mib = 0.0
        self._start = 0

    def __enter__(self) -> 'CudaPeakMemoryGrowth':
        import torch

        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self._start = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc_info) -> None:
        import torch

        torch.cuda.synchronize(self.device)
        peak = torch.cuda.max_memory_allocated(self.device)
        self.mib = max(peak - self._start, 0) / 2**20


#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: glibc's largest mmap threshold on 64-bit systems
_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory at the top of the heap that glibc may keep
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse (this process).

    By default glibc serves large blocks with fresh ``mmap`` pages and
    gives freed memory back to the system, so a PyTorch CPU forward pass
    whose activations outgrow that threshold page-faults on all of them
    again in every run (measured: about 6,400 faults and up to a quarter
    of D-FINE-N's PyTorch latency at 640), and whether it does depends on
    what the process allocated before. Blocks up to 32 MiB then come from
    the heap, which keeps up to 1 GiB of freed memory at its top.

    Returns:
        bool: False where the C library is not glibc (nothing changed).
    """
    name = ctypes.util.find_library('c')
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
