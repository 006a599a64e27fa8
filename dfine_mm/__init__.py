"""dfine_mm: D-FINE as OpenMMLab components.

Importing this package checks the OpenMMLab versions, lets mmengine
checkpoints load under torch's ``weights_only`` default, and makes
dfine_mm's modules available to mmdet's registries (imported on the first
lookup, as mmdet imports its own).
"""

from .utils import (
    check_dependency_versions,
    register_checkpoint_safe_globals,
    register_modules_lazily,
)
from .version import __version__, version_info

check_dependency_versions()
register_checkpoint_safe_globals()
register_modules_lazily()  # dfine_mm.models loads on the first build

from . import datasets  # noqa: E402  (after the version check)

__all__ = ['__version__', 'version_info']
