"""dfine_mm: D-FINE as OpenMMLab components.

Importing this package checks the OpenMMLab versions, lets mmengine
checkpoints load under torch's ``weights_only`` default, and registers
dfine_mm's modules into mmdet's registries.
"""

from .utils import check_dependency_versions, register_checkpoint_safe_globals
from .version import __version__, version_info

check_dependency_versions()
register_checkpoint_safe_globals()

from . import datasets  # noqa: E402  (registers after the version check)

__all__ = ['__version__', 'version_info']
