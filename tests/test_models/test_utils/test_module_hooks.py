"""``runs_hooks``: whether a fast path that skips a module's call would
skip a hook."""

import pytest
from torch import nn
from torch.nn.modules import module as torch_module

from dfine_mm.engine.hooks import channels_last_hook
from dfine_mm.models.utils.module_hooks import format_only_hook, runs_hooks


def _hook(*args):
    return None


@pytest.mark.parametrize(
    'register',
    [
        lambda m: m.register_forward_hook(_hook),
        lambda m: m.register_forward_pre_hook(_hook),
        lambda m: m.register_full_backward_hook(_hook),
        lambda m: m.register_full_backward_pre_hook(_hook),
        lambda m: m.register_forward_hook(_hook, with_kwargs=True),
    ],
)
def test_a_modules_own_hook_is_seen_until_removed(register):
    plain, hooked = nn.ReLU(), nn.ReLU()
    assert not runs_hooks(plain, hooked)
    handle = register(hooked)
    assert runs_hooks(hooked) and runs_hooks(plain, hooked)
    assert not runs_hooks(plain)
    handle.remove()
    assert not runs_hooks(hooked)


@pytest.mark.parametrize(
    'register',
    [
        torch_module.register_module_forward_hook,
        torch_module.register_module_forward_pre_hook,
        torch_module.register_module_full_backward_hook,
        torch_module.register_module_full_backward_pre_hook,
    ],
)
def test_a_global_module_hook_concerns_every_module(register):
    module = nn.ReLU()
    handle = register(_hook)
    try:
        assert runs_hooks(module)
    finally:
        handle.remove()
    assert not runs_hooks(module)


def test_format_only_hooks_are_ignored():
    conv = nn.Conv2d(2, 2, 1)
    # the channels-last hook's pre-hook on every conv of a wrapped model
    conv.register_forward_pre_hook(channels_last_hook._channels_last_input)
    assert not runs_hooks(conv)
    marked = format_only_hook(lambda module, args: None)
    conv.register_forward_pre_hook(marked)
    assert not runs_hooks(conv)
    conv.register_forward_pre_hook(lambda module, args: None)
    assert runs_hooks(conv)
