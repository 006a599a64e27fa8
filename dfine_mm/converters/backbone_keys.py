"""Map HGNetV2 checkpoint keys to :class:`dfine_mm.models.HGNetV2` keys.

Two source layouts are supported; both functions take one key *without* the
checkpoint's backbone prefix and return our key (relative to the backbone):

* the official D-FINE layout (prefix ``backbone.``; also the layout of the
  ImageNet ``PPHGNetV2_*_stage1.pth`` files, which have no prefix). Our
  module names are the official ones, so the map is the identity; it only
  checks that the key is a valid HGNetV2 key::

      stem.stem1.conv.weight                                   (unchanged)
      stages.2.blocks.1.layers.0.conv1.bn.running_var          (unchanged)

* transformers' ``DFineForObjectDetection`` layout (prefix
  ``model.backbone.``), where the backbone is an ``HGNetV2Backbone`` under
  ``model``::

      model.embedder.stem1.convolution.weight   -> stem.stem1.conv.weight
      model.encoder.stages.2.blocks.1.layers.0.conv1.normalization.bias
          -> stages.2.blocks.1.layers.0.conv1.bn.bias

  The conversion is a table of regex rules
  (:data:`TRANSFORMERS_BACKBONE_RULES`): one for the module path, one for
  the leaf (``convolution.weight``, ``normalization.*``, ``lab.*``).

A ``num_batches_tracked`` key maps like any other BatchNorm entry. Frozen
norms drop it on load; ordinary BatchNorms recreate it when it is missing
(transformers' D-FINE checkpoints use frozen norms for every variant, the
official N/S/M ones do not).
"""

import re
from typing import (
    Callable,
    Dict,
    Mapping,
    Optional,
    Pattern,
    Sequence,
    Tuple,
)

from torch import Tensor

__all__ = [
    'TRANSFORMERS_BACKBONE_RULES',
    'convert_official_backbone_state_dict',
    'convert_transformers_backbone_state_dict',
    'is_hgnetv2_key',
    'map_official_backbone_key',
    'map_transformers_backbone_key',
]

# Grammar of every state-dict key of HGNetV2 (all archs, with or without
# LAB / frozen norms): <module path>.<leaf>.
_MODULE = (
    r'(?:stem\.stem(?:1|2a|2b|3|4)'
    r'|stages\.\d+\.downsample'
    r'|stages\.\d+\.blocks\.\d+\.layers\.\d+(?:\.conv[12])?'
    r'|stages\.\d+\.blocks\.\d+\.aggregation\.[01])'
)
_LEAF = (
    r'(?:conv\.weight'
    r'|bn\.(?:weight|bias|running_mean|running_var|num_batches_tracked)'
    r'|lab\.(?:scale|bias))'
)
_HGNETV2_KEY = re.compile(rf'{_MODULE}\.{_LEAF}')

# transformers -> ours. A key is split into its module path and its leaf
# (the last two names); each part must fully match one (pattern,
# replacement) rule of its table, and is rewritten with ``re.sub``.
TRANSFORMERS_BACKBONE_RULES: Dict[
    str, Tuple[Tuple[Pattern[str], str], ...]
] = {
    'module': (
        # HGNetV2Embeddings -> StemBlock
        (re.compile(r'model\.embedder\.(stem(?:1|2a|2b|3|4))'), r'stem.\1'),
        # HGNetV2Encoder.stages -> HGNetV2.stages (same names below)
        (
            re.compile(
                r'model\.encoder\.(stages\.\d+\.(?:downsample|blocks\.\d+\.'
                r'(?:layers\.\d+(?:\.conv[12])?|aggregation\.[01])))'
            ),
            r'\1',
        ),
    ),
    'leaf': (
        # HGNetV2ConvLayer children: convolution -> conv, normalization -> bn
        (re.compile(r'convolution\.weight'), 'conv.weight'),
        (
            re.compile(
                r'normalization\.(weight|bias|running_mean|running_var'
                r'|num_batches_tracked)'
            ),
            r'bn.\1',
        ),
        (re.compile(r'lab\.(scale|bias)'), r'lab.\1'),
    ),
}


def _apply_rules(
    part: str, rules: Sequence[Tuple[Pattern[str], str]]
) -> Optional[str]:
    for pattern, replacement in rules:
        if pattern.fullmatch(part):
            return pattern.sub(replacement, part)
    return None


def is_hgnetv2_key(key: str) -> bool:
    """Whether ``key`` is a valid key of an :class:`HGNetV2` state dict."""
    return _HGNETV2_KEY.fullmatch(key) is not None


def map_official_backbone_key(key: str) -> str:
    """Map one official D-FINE backbone key (without ``backbone.``).

    Args:
        key (str): e.g. ``'stages.2.blocks.1.layers.0.conv1.bn.weight'``.

    Returns:
        str: Our key, which is the same string.

    Raises:
        KeyError: If ``key`` is not an HGNetV2 key.
    """
    if not is_hgnetv2_key(key):
        raise KeyError(
            f'{key!r} is not an official HGNetV2 backbone key (expected e.g. '
            f"'stem.stem1.conv.weight'; strip the 'backbone.' prefix first)."
        )
    return key


def map_transformers_backbone_key(key: str) -> str:
    """Map one transformers D-FINE backbone key (without ``model.backbone.``).

    Args:
        key (str): e.g. ``'model.embedder.stem1.convolution.weight'``.

    Returns:
        str: Our key, e.g. ``'stem.stem1.conv.weight'``.

    Raises:
        KeyError: If ``key`` is not a key of transformers' HGNetV2 backbone.
    """
    module, _, leaf = key.rpartition('.')
    module, _, leaf_module = module.rpartition('.')
    module = _apply_rules(module, TRANSFORMERS_BACKBONE_RULES['module'])
    leaf = _apply_rules(
        f'{leaf_module}.{leaf}', TRANSFORMERS_BACKBONE_RULES['leaf']
    )
    mapped = f'{module}.{leaf}'
    if module is None or leaf is None or not is_hgnetv2_key(mapped):
        raise KeyError(
            f"{key!r} is not a key of transformers' D-FINE HGNetV2 backbone "
            f"(expected e.g. 'model.embedder.stem1.convolution.weight'; "
            f"strip the 'model.backbone.' prefix first)."
        )
    return mapped


def _convert(
    state_dict: Mapping[str, Tensor],
    prefix: str,
    map_key: Callable[[str], str],
) -> Dict[str, Tensor]:
    converted = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            converted[map_key(key[len(prefix) :])] = value
    return converted


def convert_official_backbone_state_dict(
    state_dict: Mapping[str, Tensor], prefix: str = 'backbone.'
) -> Dict[str, Tensor]:
    """Backbone part of an official D-FINE state dict, in our naming.

    Args:
        state_dict (Mapping[str, Tensor]): A full model state dict (e.g.
            ``ckpt['model']`` or ``ckpt['ema']['module']``).
        prefix (str): Prefix of the backbone keys; keys without it are
            ignored. Use ``''`` for ImageNet ``stage1`` files. Defaults to
            ``'backbone.'``.

    Returns:
        dict[str, Tensor]: Keys of :class:`HGNetV2`, same tensors.
    """
    return _convert(state_dict, prefix, map_official_backbone_key)


def convert_transformers_backbone_state_dict(
    state_dict: Mapping[str, Tensor], prefix: str = 'model.backbone.'
) -> Dict[str, Tensor]:
    """Backbone part of a transformers ``DFineForObjectDetection`` state dict.

    Args:
        state_dict (Mapping[str, Tensor]): The full model state dict.
        prefix (str): Prefix of the backbone keys; keys without it are
            ignored. Defaults to ``'model.backbone.'``.

    Returns:
        dict[str, Tensor]: Keys of :class:`HGNetV2`, same tensors.
    """
    return _convert(state_dict, prefix, map_transformers_backbone_key)
