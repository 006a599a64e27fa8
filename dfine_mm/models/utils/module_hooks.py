"""Whether a module call would run hooks: the fast paths that compute a
module's work without calling it (HGNetV2's fused norm + ReLU + affine
node, the stem's split convolution, the FPN fusion's split 1x1
convolution) are taken only when no hook would be skipped, so that a
user's forward or backward hooks always run."""

from typing import Callable

from torch import nn
from torch.nn.modules import module as _module

#: the attribute that marks a hook as changing only a tensor's memory
#: format (see :func:`format_only_hook`)
_FORMAT_ONLY = '_dfine_format_only'

#: torch's global module hooks (``nn.modules.module.register_module_*``)
_GLOBAL_HOOKS = (
    '_global_forward_pre_hooks',
    '_global_forward_hooks',
    '_global_backward_pre_hooks',
    '_global_backward_hooks',
)

#: a module's own hooks
_MODULE_HOOKS = (
    '_forward_pre_hooks',
    '_forward_hooks',
    '_backward_pre_hooks',
    '_backward_hooks',
)


def format_only_hook(hook: Callable) -> Callable:
    """Mark ``hook`` as one that changes only the memory format of what it
    is given, never a value, so that :func:`runs_hooks` ignores it: a fast
    path that skips it computes the same values.

    Args:
        hook (Callable): A module hook.

    Returns:
        Callable: ``hook`` itself, marked.
    """
    setattr(hook, _FORMAT_ONLY, True)
    return hook


def runs_hooks(*modules: nn.Module) -> bool:
    """Whether calling any of ``modules`` would run a hook: a global module
    hook, or a forward, forward-pre, backward or backward-pre hook of the
    module's own (those marked with :func:`format_only_hook` aside).

    Args:
        *modules (nn.Module): The modules a fast path would not call.

    Returns:
        bool: True if any such hook is registered.
    """
    if any(getattr(_module, name, None) for name in _GLOBAL_HOOKS):
        return True
    return any(
        not getattr(hook, _FORMAT_ONLY, False)
        for module in modules
        for name in _MODULE_HOOKS
        for hook in (getattr(module, name, None) or {}).values()
    )
