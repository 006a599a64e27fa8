"""Run a function when a module has been imported.

``import dfine_mm`` must stay cheap, but two of its set-up steps extend
mmengine modules that cost seconds to import (``mmengine.runner``,
``mmengine.infer``). :func:`when_imported` runs such a step at once if the
module is already loaded, or right after its first import otherwise.
"""

import importlib.abc
import importlib.util
import sys
from typing import Callable, Dict, List, Optional, Sequence

ModuleCallback = Callable[[object], None]
_PENDING: Dict[str, List[ModuleCallback]] = {}


class _Loader(importlib.abc.Loader):
    """Delegate to the real loader, then run the module's callbacks."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        for callback in _PENDING.pop(module.__name__, []):
            callback(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Find modules with pending callbacks through the other finders and
    wrap their loaders."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target=None
    ):
        if fullname not in _PENDING:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


_FINDER = _Finder()


def when_imported(name: str, callback: ModuleCallback) -> None:
    """Call ``callback(module)`` once module ``name`` is imported: now if it
    already is, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _PENDING.setdefault(name, []).append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


__all__ = ['when_imported']
