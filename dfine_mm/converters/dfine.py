"""Convert official D-FINE and transformers checkpoints to dfine_mm.

Sources understood (see :func:`read_source_state_dict`):

- official D-FINE training / released files: ``{'model': sd}`` or
  ``{'ema': {'module': sd}}``, train-mode or ``deploy()``-mode keys;
- transformers ``DFineForObjectDetection`` state dicts: ``.safetensors``,
  ``.bin`` / ``.pth``, or a directory holding ``model.safetensors``;
- the ImageNet ``PPHGNetV2_B*_stage1.pth`` backbone files (for
  ``init_cfg=dict(type='Pretrained', ...)`` of the backbone).
"""

import os.path as osp
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

from .backbone_keys import (
    convert_official_backbone_state_dict,
    convert_transformers_backbone_state_dict,
    is_hgnetv2_key,
)
from .decoder_keys import (
    TRANSFORMERS_DECODER_RULES,
    apply_rules,
    is_transformers_qkv,
    map_official_decoder_key,
    merge_transformers_qkv,
)
from .encoder_keys import (
    TRANSFORMERS_ENCODER_PREFIXES,
    convert_official_encoder_state_dict,
    convert_transformers_encoder_state_dict,
)

StateDict = Dict[str, Tensor]

# variant -> (stem output channels, neck levels, neck channels)
VARIANT_SIGNATURES = {
    'n': (16, 2, 128),
    's': (16, 3, 256),
    'm': (32, 3, 256),
    'l': (48, 3, 256),
    'x': (64, 3, 384),
}
VARIANT_CONFIGS = {
    'n': 'dfine-n_hgnetv2-b0_4xb32-160e_coco.py',
    's': 'dfine-s_hgnetv2-b0_4xb8-132e_coco.py',
    'm': 'dfine-m_hgnetv2-b2_4xb8-132e_coco.py',
    'l': 'dfine-l_hgnetv2-b4_4xb8-80e_coco.py',
    'x': 'dfine-x_hgnetv2-b5_4xb8-80e_coco.py',
}


def read_source_state_dict(path: str) -> StateDict:
    """Load the model state dict of a source checkpoint.

    Unwraps ``{'ema': {'module': sd}}`` (preferred, as the official tools
    do), ``{'model': sd}`` and ``{'state_dict': sd}``. Pickled files are read
    with ``weights_only=True``.

    Raises:
        FileNotFoundError: If ``path`` (or its ``model.safetensors``) is
            missing.
        ValueError: If the file holds no state dict.
    """
    if osp.isdir(path):
        path = osp.join(path, 'model.safetensors')
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        return dict(load_file(path))
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(ckpt, Mapping):
        ema = ckpt.get('ema')
        if isinstance(ema, Mapping) and isinstance(ema.get('module'), Mapping):
            return dict(ema['module'])
        for key in ('model', 'state_dict'):
            if isinstance(ckpt.get(key), Mapping):
                return dict(ckpt[key])
        if ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
            return dict(ckpt)
    raise ValueError(
        f'{path} holds no model state dict (expected a dict of tensors, '
        "{'model': ...}, {'ema': {'module': ...}} or {'state_dict': ...})"
    )


def detect_source_format(state_dict: Mapping[str, Tensor]) -> str:
    """'official', 'transformers' or 'hgnetv2_imagenet'.

    Raises:
        ValueError: If the keys fit none of them.
    """
    keys = list(state_dict)
    if any(k.startswith(('model.backbone.', 'model.decoder.')) for k in keys):
        return 'transformers'
    if any(k.startswith('decoder.') for k in keys) and any(
        k.startswith('backbone.') for k in keys
    ):
        return 'official'
    if keys and all(is_hgnetv2_key(k) for k in keys):
        return 'hgnetv2_imagenet'
    raise ValueError(
        'unrecognised checkpoint: expected official D-FINE keys '
        "('backbone.', 'encoder.', 'decoder.'), transformers keys "
        "('model.backbone.', 'model.decoder.', ...) or an HGNetV2 backbone "
        f"('stem.', 'stages.'); the first keys are {keys[:5]}"
    )


def _convert_official(state_dict: Mapping[str, Tensor]) -> StateDict:
    out: StateDict = OrderedDict()
    for key, value in convert_official_backbone_state_dict(state_dict).items():
        out['backbone.' + key] = value
    for key, value in convert_official_encoder_state_dict(state_dict).items():
        out['neck.' + key] = value
    for key, value in state_dict.items():
        if not key.startswith('decoder.'):
            if not key.startswith(('backbone.', 'encoder.')):
                raise KeyError(f'unknown official checkpoint key: {key}')
            continue
        new_key = map_official_decoder_key(key[len('decoder.') :])
        if new_key is not None:
            out[new_key] = value
    return out


def _convert_transformers(state_dict: Mapping[str, Tensor]) -> StateDict:
    out: StateDict = OrderedDict()
    backbone = convert_transformers_backbone_state_dict(state_dict)
    for key, value in backbone.items():
        out['backbone.' + key] = value
    neck = convert_transformers_encoder_state_dict(state_dict)
    for key, value in neck.items():
        out['neck.' + key] = value
    out.update(merge_transformers_qkv(state_dict))
    for key, value in state_dict.items():
        if key.startswith(('model.backbone.', *TRANSFORMERS_ENCODER_PREFIXES)):
            continue
        if is_transformers_qkv(key):
            continue
        matched, new_key = apply_rules(key, TRANSFORMERS_DECODER_RULES)
        if not matched:
            raise KeyError(f'unknown transformers checkpoint key: {key}')
        if new_key is not None:
            out[new_key] = value
    return out


def convert_dfine_state_dict(
    state_dict: Mapping[str, Tensor],
) -> Tuple[StateDict, str]:
    """Rename a source state dict to dfine_mm's ``DFINE`` (or, for ImageNet
    backbone files, ``HGNetV2``) keys.

    Returns:
        tuple: ``(state_dict, source_format)``.
    """
    source = detect_source_format(state_dict)
    if source == 'official':
        return _convert_official(state_dict), source
    if source == 'transformers':
        return _convert_transformers(state_dict), source
    return convert_official_backbone_state_dict(state_dict, prefix=''), source


def is_deploy_form(state_dict: Mapping[str, Tensor]) -> bool:
    """Whether the neck's conv-BN pairs are fused (official ``deploy()``)."""
    neck_keys = [k for k in state_dict if k.startswith('neck.')]
    return any(k.endswith('conv_bn_fused.weight') for k in neck_keys) or any(
        '.bottlenecks.' in k and k.endswith('.conv.bias') for k in neck_keys
    )


def detect_variant(state_dict: Mapping[str, Tensor]) -> str:
    """D-FINE variant ('n' ... 'x') of a converted state dict, from the
    shapes of the backbone stem and the neck's input projections.

    Raises:
        ValueError: If the shapes match no variant.
    """
    try:
        stem = state_dict['backbone.stem.stem4.conv.weight'].shape[0]
        proj = [
            state_dict[k]
            for k in sorted(state_dict)
            if k.startswith('neck.input_proj.') and k.endswith('conv.weight')
        ]
        signature = (stem, len(proj), proj[0].shape[0])
    except (KeyError, IndexError) as e:
        raise ValueError(
            f'cannot tell the D-FINE variant: missing {e}; is this a full '
            'D-FINE checkpoint?'
        ) from e
    for variant, expected in VARIANT_SIGNATURES.items():
        if signature == expected:
            return variant
    raise ValueError(
        f'no D-FINE variant has stem channels {signature[0]}, '
        f'{signature[1]} feature levels and {signature[2]} encoder channels; '
        f'known: {VARIANT_SIGNATURES}'
    )


def variant_config_path(variant: str) -> str:
    """Path of the COCO config of a variant (repository or ``.mim``)."""
    if variant not in VARIANT_CONFIGS:
        raise ValueError(
            f'unknown variant {variant!r}; choose from {list(VARIANT_CONFIGS)}'
        )
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (
        osp.join(package, '.mim', 'configs'),
        osp.join(osp.dirname(package), 'configs'),
    ):
        path = osp.join(root, 'dfine', VARIANT_CONFIGS[variant])
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'config {VARIANT_CONFIGS[variant]} not found; reinstall dfine_mm '
        '(pip install -e .) so its configs are reachable'
    )


def check_against_model(
    state_dict: Mapping[str, Tensor], model: torch.nn.Module, name: str
) -> None:
    """Raise unless ``state_dict`` matches ``model`` key for key and shape.

    Raises:
        ValueError: Listing the first missing, unexpected and mis-shaped
            keys.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f'{k}: {tuple(state_dict[k].shape)} vs {tuple(v.shape)}'
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (
            ('missing', missing),
            ('unexpected', unexpected),
            ('shape mismatch (checkpoint vs model)', shapes),
        ):
            if items:
                parts.append(f'{label} ({len(items)}): {items[:5]}')
        raise ValueError(
            f'the checkpoint does not match {name}: ' + '; '.join(parts)
        )


def build_variant_model(variant: str, num_classes: Optional[int] = None):
    """Build the ``DFINE`` model of a variant's config (eval mode), without
    the config's ImageNet backbone initialisation (converted weights
    replace every tensor)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    cfg = Config.fromfile(variant_config_path(variant))
    if num_classes is not None:
        cfg.model.bbox_head.num_classes = num_classes
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).eval()


__all__ = [
    'VARIANT_CONFIGS',
    'build_variant_model',
    'check_against_model',
    'convert_dfine_state_dict',
    'detect_source_format',
    'detect_variant',
    'is_deploy_form',
    'read_source_state_dict',
    'variant_config_path',
]
