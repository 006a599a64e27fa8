"""DFineMallocHook: freed host memory kept in the heap on the CPU."""

import json
from types import SimpleNamespace

import pytest
import torch
from helpers import (
    MALLINFO2_PRELUDE,
    MMEngineLogRecords,
    run_without_malloc_tunables,
)
from mmdet.registry import HOOKS

from dfine_mm.engine.hooks import malloc_hook
from dfine_mm.utils.glibc_malloc import glibc

# An 80 MiB tensor (over glibc's largest mmap threshold, 32 MiB) before the
# hook, with it and after the run, in a child process (the settings are
# process-wide). glibc's own bookkeeping (mallinfo2, glibc >= 2.33) says
# where each block came from: counted by malloc, not by the kernel, so
# transparent huge pages and the machine's memory do not change it.
SCRIPT = (
    MALLINFO2_PRELUDE
    + """
import json
from types import SimpleNamespace
import torch
from dfine_mm.engine.hooks import DFineMallocHook

def where(mib=80):  # MiB mapped afresh for a tensor of mib MiB, MiB
    before = libc.mallinfo2()  # free in the heap after it
    tensor = torch.ones(mib * MIB // 4)
    mapped = (libc.mallinfo2().hblkhd - before.hblkhd) // MIB
    del tensor
    return mapped, libc.mallinfo2().fordblks // MIB

runner = SimpleNamespace(model=torch.nn.Linear(2, 2))
hook = DFineMallocHook()
result = dict(default=where())
hook.before_run(runner)
result['applied'] = hook.applied
result['kept'] = [where(), where()]
hook.after_run(runner)
# larger than all the heap's free chunks: glibc's limits decide, not a
# free chunk that the run left below other blocks (which it may reuse)
size = libc.mallinfo2().fordblks // MIB + 80
result['after_run'] = [*where(size), size]
print(json.dumps(result))
"""
)


def _mallinfo2() -> bool:
    libc = glibc()
    return libc is not None and hasattr(libc, 'mallinfo2')


@pytest.mark.skipif(not _mallinfo2(), reason='needs glibc >= 2.33')
def test_freed_memory_stays_in_the_heap_until_the_run_ends():
    out = run_without_malloc_tunables(SCRIPT)
    result = json.loads(out.strip().splitlines()[-1])
    assert result['applied']
    assert result['default'][0] >= 80, result  # by default: mapped afresh
    (mapped, free), (mapped_again, free_again) = result['kept']
    assert mapped == mapped_again == 0, result  # from the heap ...
    assert free >= 80 and free_again >= 80, result  # ... and kept there
    mapped_after, _, size = result['after_run']
    assert mapped_after >= size, result  # glibc's limits are back


@pytest.fixture
def allocator_untouched(monkeypatch):
    """The hook's calls into the allocator fail the test."""

    def fail(*args):
        raise AssertionError('the allocator must not be changed')

    monkeypatch.setattr(malloc_hook, 'keep_freed_memory', fail)
    monkeypatch.setattr(malloc_hook, 'release_freed_memory', fail)


def test_leaves_a_model_off_the_cpu_alone(allocator_untouched):
    hook = HOOKS.build(dict(type='DFineMallocHook'))
    # a meta-device model stands in for one on a GPU
    runner = SimpleNamespace(model=torch.nn.Linear(2, 2, device='meta'))
    with MMEngineLogRecords() as records:
        hook.before_run(runner)
    hook.after_run(runner)
    assert not hook.applied
    assert 'the model is on meta' in ' '.join(records.messages)


def test_disabled_from_the_command_line(allocator_untouched):
    """``--cfg-options default_hooks.malloc.enabled=False`` on a shipped
    recipe: registered, but the allocator is left alone."""
    from helpers import DEMO_CONFIG
    from mmengine.config import Config

    cfg = Config.fromfile(DEMO_CONFIG)
    assert cfg.default_hooks.malloc.type == 'DFineMallocHook'
    cfg.merge_from_dict({'default_hooks.malloc.enabled': False})
    hook = HOOKS.build(cfg.default_hooks.malloc)
    with MMEngineLogRecords() as records:
        hook.before_run(SimpleNamespace(model=torch.nn.Linear(2, 2)))
    hook.after_run(None)
    assert not hook.applied
    assert 'disabled' in ' '.join(records.messages)
    with pytest.raises(TypeError, match='enabled must be True or False'):
        HOOKS.build(dict(type='DFineMallocHook', enabled='no'))


def test_logs_a_warning_without_glibc(monkeypatch):
    from dfine_mm.utils import glibc_malloc

    monkeypatch.setattr(glibc_malloc, 'glibc', lambda: None)
    hook = HOOKS.build(dict(type='DFineMallocHook'))
    with MMEngineLogRecords() as records:
        hook.before_run(SimpleNamespace(model=torch.nn.Linear(2, 2)))
    assert not hook.applied
    assert 'not glibc' in ' '.join(records.messages)


@pytest.mark.parametrize('value', [-1, 2**31, True, 1.5])
def test_trim_threshold_is_checked_when_built(value):
    with pytest.raises(ValueError, match='trim_threshold must be an int'):
        HOOKS.build(dict(type='DFineMallocHook', trim_threshold=value))
