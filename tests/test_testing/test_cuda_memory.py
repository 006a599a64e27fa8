"""CudaPeakMemoryGrowth: the peak allocated inside the block, less what
was allocated on entry; the old import path."""

import pytest
import torch

from dfine_mm.testing import CudaPeakMemoryGrowth


class _Counters:
    """Stand-ins for torch.cuda's memory counters: a CPU test of the
    arithmetic and of the calls' order."""

    def __init__(self, allocated: int, peak: int) -> None:
        self.allocated, self.peak = allocated, peak
        self.calls = []

    def install(self, monkeypatch) -> None:
        def record(name, value=None):
            def call(device=None):
                self.calls.append((name, device))
                return value() if value else None

            return call

        cuda = torch.cuda
        monkeypatch.setattr(cuda, 'synchronize', record('synchronize'))
        monkeypatch.setattr(cuda, 'reset_peak_memory_stats', record('reset'))
        monkeypatch.setattr(
            cuda, 'memory_allocated',
            record('allocated', lambda: self.allocated),
        )  # fmt: skip
        monkeypatch.setattr(
            cuda, 'max_memory_allocated', record('peak', lambda: self.peak)
        )


@pytest.mark.parametrize(
    'start, peak, mib', [(2**20, 9 * 2**20, 8.0), (3 * 2**20, 2**20, 0.0)]
)
def test_growth_is_the_peak_less_the_start(monkeypatch, start, peak, mib):
    counters = _Counters(allocated=start, peak=peak)
    counters.install(monkeypatch)
    with CudaPeakMemoryGrowth('cuda:1') as growth:
        assert growth.mib == 0.0  # set on exit only
    assert growth.mib == mib
    # the peak is reset and the start read on entry, after waiting for
    # pending kernels; the peak read on exit, after waiting again
    assert counters.calls == [
        ('synchronize', 'cuda:1'),
        ('reset', 'cuda:1'),
        ('allocated', 'cuda:1'),
        ('synchronize', 'cuda:1'),
        ('peak', 'cuda:1'),
    ]


def test_old_import_path():
    from dfine_mm.testing import memory

    assert memory.CudaPeakMemoryGrowth is CudaPeakMemoryGrowth
    assert 'CudaPeakMemoryGrowth' in memory.__all__


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_growth_is_the_peak_inside_the_block():
    before = torch.empty(64 * 2**20, dtype=torch.uint8, device='cuda')
    del before  # an earlier, larger peak must not count
    kept = torch.zeros(2**20, dtype=torch.uint8, device='cuda')
    with CudaPeakMemoryGrowth() as growth:
        block = torch.ones(8 * 2**20, dtype=torch.uint8, device='cuda')
        del block
    assert 7.5 <= growth.mib <= 9, growth.mib
    del kept
