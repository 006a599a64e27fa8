"""Load official, DEIM, transformers and dfine_mm checkpoints alike.

:func:`register_checkpoint_loader` (called when :mod:`dfine_mm` is
imported) wraps mmengine's local-file and HTTP checkpoint loaders, so every
mmengine entry point that reads a checkpoint - ``load_checkpoint``,
``init_detector``, ``DetInferencer``, ``load_from``, ``--resume``,
``tools/test.py`` and ``init_cfg=dict(type='Pretrained')`` - accepts:

- dfine_mm / mmengine checkpoints (``{'state_dict': ..., 'meta': ...}``),
  passed through unchanged;
- official D-FINE and DEIM files (``{'model': sd}``, ``{'ema': {'module':
  sd}}`` training checkpoints, or a bare state dict), converted with
  :func:`~dfine_mm.converters.dfine.convert_dfine_state_dict`;
- transformers ``DFineForObjectDetection`` weights: a ``.safetensors``
  file, a directory holding ``model.safetensors``, or a pickled state dict
  with ``model.backbone.`` keys.

The conversion is the one of ``tools/model_converters/dfine_to_mmdet.py``;
the converted checkpoint carries ``meta`` (source format, variant, COCO
``dataset_meta`` for 80-class heads, ``epoch``/``iter`` 0 and an empty
message hub, so ``--resume`` starts a fresh schedule from its weights).
"""

import contextlib
import logging
import os.path as osp
from typing import Any, Callable, Dict, Mapping, Optional

from mmengine.logging import print_log
from torch import Tensor

from ..utils.post_import import when_imported
from .dfine import (
    convert_dfine_state_dict,
    detect_variant,
    is_deploy_form,
    read_source_state_dict,
)

COCO_NUM_CLASSES = 80
_WRAPPED = '_dfine_mm_converting_loader'


def _foreign_state_dict(checkpoint: Any) -> Optional[Dict[str, Tensor]]:
    """The model state dict of an official / DEIM / transformers checkpoint,
    or None for anything else (mmengine checkpoints, backbone files, ...)."""
    if not isinstance(checkpoint, Mapping) or 'state_dict' in checkpoint:
        return None
    ema = checkpoint.get('ema')
    if isinstance(ema, Mapping) and isinstance(ema.get('module'), Mapping):
        state_dict = ema['module']
    elif isinstance(checkpoint.get('model'), Mapping):
        state_dict = checkpoint['model']
    else:
        state_dict = checkpoint
    keys = [k for k in state_dict if isinstance(k, str)]
    if any(k.startswith(('model.backbone.', 'model.decoder.')) for k in keys):
        return dict(state_dict)  # transformers
    prefixes = {k.split('.', 1)[0] for k in keys}
    official = {'backbone', 'encoder', 'decoder'}
    if official <= prefixes and not prefixes & {'neck', 'bbox_head'}:
        return dict(state_dict)
    return None


def convert_loaded_checkpoint(checkpoint: Any, name: str = '') -> Any:
    """Turn a loaded official / DEIM / transformers checkpoint into a
    dfine_mm one; return anything else unchanged.

    Args:
        checkpoint: What ``torch.load`` (or safetensors) returned.
        name (str): File name, for messages.

    Returns:
        The checkpoint, or ``{'state_dict', 'meta', 'message_hub'}`` with
        dfine_mm keys when it was converted.

    Raises:
        ValueError: For a checkpoint in the official ``deploy()`` form (its
            fused tensors have no place in a training-form model).
    """
    source = _foreign_state_dict(checkpoint)
    if source is None:
        return checkpoint
    state_dict, source_format = convert_dfine_state_dict(source)
    if is_deploy_form(state_dict):
        raise ValueError(
            f'{name} holds D-FINE weights in the official deploy() form '
            '(fused conv-BN pairs), which a training-form model cannot '
            'load; convert it with tools/model_converters/dfine_to_mmdet.py '
            'and load it after model.switch_to_deploy(fuse_backbone=False), '
            'or use the training checkpoint'
        )
    meta: Dict[str, Any] = dict(
        source=osp.basename(osp.normpath(name)) if name else '',
        source_format=source_format,
        epoch=0,
        iter=0,
    )
    # not a stock variant: the model's own shape check reports it
    with contextlib.suppress(ValueError):
        meta['variant'] = detect_variant(state_dict)
    cls = state_dict.get('bbox_head.enc_cls_branch.weight')
    if cls is not None and len(cls) == COCO_NUM_CLASSES:
        from mmdet.datasets import CocoDataset

        meta['dataset_meta'] = dict(CocoDataset.METAINFO)
    print_log(
        f'converted {source_format} D-FINE checkpoint {name} '
        f'(variant {meta.get("variant", "unknown")}, {len(state_dict)} '
        'tensors); it holds no mmengine training state, so --resume from '
        'it starts at epoch 0 with a fresh optimizer',
        logger='current',
        level=logging.INFO,
    )
    message_hub = dict(log_scalars={}, runtime_info={}, resumed_keys={})
    return dict(state_dict=state_dict, meta=meta, message_hub=message_hub)


def _converting(loader: Callable, local: bool) -> Callable:
    """Wrap an mmengine scheme loader with :func:`convert_loaded_checkpoint`
    (and, for local paths, transformers directories and safetensors)."""

    def load(filename: str, map_location=None, *args, **kwargs):
        path = osp.expanduser(filename) if local else filename
        if local and (osp.isdir(path) or path.endswith('.safetensors')):
            checkpoint = read_source_state_dict(path)
        else:
            checkpoint = loader(filename, map_location, *args, **kwargs)
        return convert_loaded_checkpoint(checkpoint, filename)

    setattr(load, _WRAPPED, loader)
    load.__name__ = loader.__name__  # mmengine logs the backend from it
    load.__doc__ = loader.__doc__
    return load


def _wrap_schemes(checkpoint_module) -> None:
    loaders = checkpoint_module.CheckpointLoader
    for prefixes, local in (('', True), (('http://', 'https://'), False)):
        first = prefixes if isinstance(prefixes, str) else prefixes[0]
        loader = loaders._schemes.get(first)
        if loader is None or hasattr(loader, _WRAPPED):
            continue
        loaders.register_scheme(
            prefixes, _converting(loader, local), force=True
        )


def register_checkpoint_loader() -> None:
    """Make mmengine's local and HTTP(S) checkpoint loaders convert
    official, DEIM and transformers checkpoints (now, or when
    ``mmengine.runner`` is first imported). Safe to call again."""
    when_imported('mmengine.runner.checkpoint', _wrap_schemes)


__all__ = ['convert_loaded_checkpoint', 'register_checkpoint_loader']
