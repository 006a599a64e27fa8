"""The glibc allocator settings (their effect: test_malloc_hook.py)."""

import pytest

from dfine_mm.utils import glibc_malloc


@pytest.mark.parametrize('value', [-1, 2**31, True, 1.5, '1'])
def test_trim_threshold_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match=r'\[0, 2147483647\]'):
        glibc_malloc.keep_freed_memory(value)


def test_nothing_is_set_without_glibc(monkeypatch):
    monkeypatch.setattr(glibc_malloc, 'glibc', lambda: None)
    assert glibc_malloc.keep_freed_memory() is False
    assert glibc_malloc.release_freed_memory() is False


def test_glibc_is_found_on_linux():
    import platform

    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        pytest.skip('not a glibc system')
    assert glibc_malloc.glibc() is not None
