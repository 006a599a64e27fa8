"""Register dfine_mm's modules into mmdet's registries on first use.

Importing the model code means importing ``mmdet.models``, which costs
seconds. mmdet's own registries avoid that cost by importing their modules
lazily from registered ``locations`` on the first lookup; dfine_mm adds its
packages to those locations, so ``import dfine_mm`` (and a config's
``custom_imports``) stays cheap and ``MODELS.build(dict(type='DFINE'))`` still
finds everything.
"""

from importlib import import_module
from typing import Dict, Tuple

# mmdet registry name -> dfine_mm modules that register into it
LAZY_LOCATIONS: Dict[str, Tuple[str, ...]] = {
    'MODELS': ('dfine_mm.models',),
    'DATASETS': ('dfine_mm.datasets.coco',),
    'TRANSFORMS': ('dfine_mm.datasets.transforms',),
    'HOOKS': ('dfine_mm.engine.hooks',),
    'OPTIM_WRAPPER_CONSTRUCTORS': ('dfine_mm.engine.optimizers',),
}


def register_modules_lazily() -> None:
    """Add dfine_mm's packages to the import locations of mmdet's
    registries, or import them now if a registry has already loaded its
    locations (it would not look again)."""
    from mmdet import registry

    for name, locations in LAZY_LOCATIONS.items():
        target = getattr(registry, name)
        for location in locations:
            if target._imported:
                import_module(location)
            elif location not in target._locations:
                target._locations.append(location)
