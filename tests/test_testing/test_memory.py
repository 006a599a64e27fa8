"""PeakMemoryGrowth: the peak inside the block, not before it;
keep_freed_memory: freed blocks stay in the heap for reuse."""

import ctypes
import ctypes.util
import subprocess
import sys

import pytest
from helpers import MALLINFO2_PRELUDE, run_without_malloc_tunables

from dfine_mm.testing import PeakMemoryGrowth

# In a fresh process: in a long-lived one (the test session) freed memory
# stays resident in the allocator, and new arrays may reuse it without the
# resident set growing at all. The blocks are anonymous mappings touched
# page by page, so the C library's allocator (its mmap threshold, freed
# memory it keeps) does not decide whether they are fresh pages.
SCRIPT = """
import mmap
import torch

from dfine_mm.testing import CudaPeakMemoryGrowth, PeakMemoryGrowth
from dfine_mm.testing.memory import _reset_high_water_mark

MIB = 2**20

def touched(size):
    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
    return block

touched(64 * MIB).close()  # an earlier 64 MiB peak, unmapped again
with PeakMemoryGrowth() as memory:
    touched(32 * MIB).close()
print(_reset_high_water_mark(), memory.mib)
"""


def test_growth_inside_the_block():
    out = subprocess.run(
        [sys.executable, '-c', SCRIPT],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    resettable, mib = out.strip().splitlines()[-1].split()
    if resettable == 'True':
        # the block's own 32 MiB count, although the process peaked
        # higher before it
        assert 28 <= float(mib) <= 40
    else:
        # no /proc/self/clear_refs: ru_maxrss, which the earlier peak hides
        assert 0 <= float(mib) < 8


def test_nothing_allocated():
    with PeakMemoryGrowth() as memory:
        pass
    assert 0 <= memory.mib < 8


# glibc's own bookkeeping (mallinfo2) over two rounds of four 8 MiB blocks
# allocated and freed, with and without keep_freed_memory(), each in a
# fresh process (it changes the allocator for good). Counted by malloc,
# not by the kernel, so transparent huge pages and the machine's memory do
# not change the numbers.
ROUNDS = (
    MALLINFO2_PRELUDE
    + """
import sys
from dfine_mm.testing import keep_freed_memory

libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == 'keep':
    assert keep_freed_memory()
else:
    # glibc's documented start value (128 KiB): its threshold rises on its
    # own when the process frees large mapped blocks (imports may), which
    # would move 8 MiB blocks to the heap before the test begins
    assert libc.mallopt(-3, 128 * 1024)
for round_index in range(2):
    before = libc.mallinfo2()
    blocks = [libc.malloc(8 * MIB) for _ in range(4)]
    during = libc.mallinfo2()
    for block in blocks:
        libc.free(block)
    after = libc.mallinfo2()
    print(round_index, (during.hblkhd - before.hblkhd) // MIB,
          (during.arena - before.arena) // MIB, after.fordblks // MIB)
"""
)


def _rounds(mode: str) -> list:
    out = run_without_malloc_tunables(ROUNDS, mode)
    # per round: MiB mapped afresh, MiB the heap grew, MiB free after it
    return [tuple(map(int, line.split()[1:])) for line in out.splitlines()]


def test_keep_freed_memory_reuses_freed_blocks():
    libc = ctypes.util.find_library('c')
    if 'libc.so.6' not in str(libc) or not hasattr(
        ctypes.CDLL(libc), 'mallinfo2'
    ):
        pytest.skip('glibc >= 2.33 only (mallinfo2)')
    default = _rounds('default')
    assert default[0][0] >= 32  # by default: fresh pages, mapped ...
    assert default[1][2] < 8  # ... or heap given back after each round
    kept = _rounds('keep')
    assert kept[0][0] == 0  # from the heap
    assert kept[0][2] >= 32  # freed memory stays in the heap ...
    assert kept[1][:2] == (0, 0)  # ... and the next round reuses it
