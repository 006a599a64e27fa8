"""Peak resident memory of a stretch of code, for the benchmark tools."""

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
