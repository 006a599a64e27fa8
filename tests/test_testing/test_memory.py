"""PeakMemoryGrowth: the peak inside the block, not before it."""

import numpy as np

from dfine_mm.testing import PeakMemoryGrowth


def test_growth_inside_the_block():
    earlier = np.ones(64 * 2**20 // 8)  # an earlier 64 MiB peak
    del earlier
    with PeakMemoryGrowth() as memory:
        block = np.ones(32 * 2**20 // 8)  # 32 MiB, touched
        del block
    # the block's own 32 MiB count, although the process peaked higher
    # before it (Linux); elsewhere at least no negative growth
    assert memory.mib >= 0
    with open('/proc/self/status') as status:
        linux = 'VmHWM' in status.read()
    if linux:
        assert 28 <= memory.mib <= 64


def test_nothing_allocated():
    with PeakMemoryGrowth() as memory:
        pass
    assert 0 <= memory.mib < 8
