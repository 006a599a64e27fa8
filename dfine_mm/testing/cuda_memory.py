"""Peak CUDA memory of a stretch of code, for the benchmark tools."""

import torch


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
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self._start = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc_info) -> None:
        torch.cuda.synchronize(self.device)
        peak = torch.cuda.max_memory_allocated(self.device)
        self.mib = max(peak - self._start, 0) / 2**20
