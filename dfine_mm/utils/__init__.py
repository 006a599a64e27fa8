from .checkout_projects import add_checkout_projects
from .checkpoint_safety import (
    checkpoint_safe_globals,
    register_checkpoint_safe_globals,
)
from .lazy_registration import register_modules_lazily
from .model_index import register_model_index, resolve_model
from .version_guard import (
    SUPPORTED_VERSIONS,
    check_dependency_versions,
    installed_versions,
)

__all__ = [
    'SUPPORTED_VERSIONS',
    'add_checkout_projects',
    'check_dependency_versions',
    'checkpoint_safe_globals',
    'installed_versions',
    'register_checkpoint_safe_globals',
    'register_model_index',
    'register_modules_lazily',
    'resolve_model',
]
