"""The ``projects/`` of a dfine_mm source checkout, importable from any
working directory.

Project configs import their code as ``projects.<NAME>.<package>`` (e.g.
``custom_imports = dict(imports=['dfine_mm', 'projects.DEIM.deim'])``), as
mmdet's projects do. That needs the repository root on ``sys.path``, which
``python tools/train.py`` does not give (Python puts ``tools/`` there) and
an editable install does not give either (it maps the ``dfine_mm`` package
only), so mmengine failed to load every project config with an
``ImportError`` about ``PYTHONPATH``.
"""

import os
import os.path as osp
import sys
from typing import Optional

#: the repository root when dfine_mm is imported from a source checkout
_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def is_checkout(root: str) -> bool:
    """Whether ``root`` is a dfine_mm source checkout (its ``setup.py``
    next to the ``dfine_mm`` package and a ``projects`` folder)."""
    return all(
        check(osp.join(root, name))
        for check, name in (
            (osp.isfile, 'setup.py'),
            (osp.isdir, 'dfine_mm'),
            (osp.isdir, 'projects'),
        )
    )


def add_checkout_projects(root: Optional[str] = None) -> Optional[str]:
    """Append a checkout's root to ``sys.path`` (at the end: nothing
    installed is shadowed) so that ``projects.*`` imports.

    Without ``root``: the checkout dfine_mm is imported from (an editable
    install) or else the current working directory when it is a checkout
    (a regular install, the tools run from the repository root).

    ``projects/`` has no ``__init__.py``: it is a namespace package, so a
    ``projects`` folder of another checkout on ``sys.path`` (mmdet's) adds
    its own projects next to these instead of hiding them.

    Args:
        root (str, optional): The repository root to add.

    Returns:
        str | None: The root now on ``sys.path``, None when there is no
        checkout (nothing changes).
    """
    candidates = [root] if root is not None else [_ROOT, _working_dir()]
    for candidate in candidates:
        if candidate is None or not is_checkout(candidate):
            continue
        on_path = {osp.realpath(entry or '.') for entry in sys.path}
        if osp.realpath(candidate) not in on_path:
            sys.path.append(candidate)
        return candidate
    return None


def _working_dir() -> Optional[str]:
    """The working directory, None when it no longer exists (importing
    dfine_mm must not fail over it)."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        return None
