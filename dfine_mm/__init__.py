"""dfine_mm: D-FINE as OpenMMLab components.

Importing this package checks the OpenMMLab versions, lets mmengine
checkpoints load under torch's ``weights_only`` default, lets mmengine's
checkpoint loading read official, DEIM and transformers D-FINE files, makes
the model names of ``model-index.yml`` known to mmdet's ``DetInferencer``,
makes dfine_mm's modules available to mmdet's registries (imported on
the first lookup, as mmdet imports its own) and, in a source checkout, lets
the project configs import ``projects.*`` from any working directory.
"""

from .converters.checkpoint_loader import register_checkpoint_loader
from .utils import (
    add_checkout_projects,
    check_dependency_versions,
    register_checkpoint_safe_globals,
    register_model_index,
    register_modules_lazily,
)
from .version import __version__, version_info

check_dependency_versions()
register_checkpoint_safe_globals()
register_checkpoint_loader()
register_model_index()
register_modules_lazily()  # dfine_mm.models loads on the first build
add_checkout_projects()  # the project configs' ``projects.*`` imports

from . import datasets  # noqa: E402  (after the version check)

__all__ = ['__version__', 'version_info']
