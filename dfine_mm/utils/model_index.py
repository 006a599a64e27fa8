"""Model names: dfine_mm's ``model-index.yml`` for mmdet's inferencer.

mmdet's ``DetInferencer(model=NAME)`` looks names up in the metafiles of
its scope's package (mmdet), where dfine_mm's models are not.
:func:`register_model_index` (called when :mod:`dfine_mm` is imported)
lets mmengine's ``BaseInferencer`` try dfine_mm's index first, so::

    import dfine_mm
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model='dfine-l_hgnetv2-b4_4xb8-80e_coco')

resolves the config (and the official weights file the metafile names).
Names of mmdet's own models still resolve as before; a name found in
neither raises an error listing the closest dfine_mm names.
"""

import difflib
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .post_import import when_imported

_MARK = '_dfine_mm_model_index'


def config_root() -> str:
    """Folder holding ``configs/`` and ``model-index.yml``: the repository
    in a source checkout, ``dfine_mm/.mim`` in an installed package."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    repository = osp.dirname(package)
    if osp.isfile(osp.join(repository, 'model-index.yml')):
        return repository
    return osp.join(package, '.mim')


def model_entries(root: Optional[str] = None) -> List[Dict]:
    """Every ``Models`` entry of the metafiles ``model-index.yml`` imports.

    Raises:
        FileNotFoundError: If the index is missing (a broken install).
    """
    from mmengine.fileio import load

    root = root or config_root()
    index = osp.join(root, 'model-index.yml')
    if not osp.isfile(index):
        raise FileNotFoundError(
            f'{index} not found; reinstall dfine_mm (pip install -e .)'
        )
    entries: List[Dict] = []
    for metafile in load(index)['Import']:
        entries += load(osp.join(root, metafile))['Models']
    return entries


def _names(entry: Dict) -> List[str]:
    aliases = entry.get('Alias') or []
    if isinstance(aliases, str):
        aliases = [aliases]
    return [entry['Name'].lower()] + [a.lower() for a in aliases]


def find_model(name: str) -> Optional[Tuple[str, Optional[str]]]:
    """``(config path, weights)`` of a model name or alias
    (case-insensitive), or None if dfine_mm has no such model."""
    root = config_root()
    for entry in model_entries(root):
        if name.lower() in _names(entry):
            weights = entry.get('Weights')
            if isinstance(weights, list):
                weights = weights[0] if weights else None
            return osp.join(root, entry['Config']), weights
    return None


def unknown_model_message(name: str) -> str:
    """An error message naming the closest dfine_mm model names."""
    names = [n for entry in model_entries() for n in _names(entry)]
    closest = difflib.get_close_matches(name.lower(), names, n=5, cutoff=0)
    return (
        f'unknown model {name!r}: not a config file, nor a name in '
        f"dfine_mm's model-index.yml or mmdet's metafiles; closest "
        f'dfine_mm names: {", ".join(closest)}'
    )


def resolve_model(model: str) -> Tuple[str, Optional[str]]:
    """``(config path, metafile weights or None)`` of a config path or a
    dfine_mm model name.

    Raises:
        ValueError: For a name that is neither, listing the closest names.
    """
    if osp.isfile(model):
        return model, None
    found = find_model(model)
    if found is None:
        raise ValueError(unknown_model_message(model))
    return found


def _patch_inferencer(infer_module) -> None:
    base = infer_module.BaseInferencer
    original = base._load_model_from_metafile
    if hasattr(original, _MARK):
        return

    def load_model_from_metafile(self, model: str):
        found = find_model(model)
        if found is not None:
            from mmengine.config import Config

            return Config.fromfile(found[0]), found[1]
        try:
            return original(self, model)
        except ValueError as e:
            raise ValueError(unknown_model_message(model)) from e

    setattr(load_model_from_metafile, _MARK, original)
    load_model_from_metafile.__doc__ = original.__doc__
    base._load_model_from_metafile = load_model_from_metafile


def register_model_index() -> None:
    """Let mmengine's inferencers (mmdet's ``DetInferencer``) resolve
    dfine_mm's model names, now or when ``mmengine.infer`` is first
    imported. Safe to call again."""
    when_imported('mmengine.infer.infer', _patch_inferencer)


__all__ = [
    'config_root',
    'find_model',
    'model_entries',
    'register_model_index',
    'resolve_model',
    'unknown_model_message',
]
