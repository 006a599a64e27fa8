"""Checkpoint key maps for :class:`DFineHybridEncoder` (the D-FINE neck).

Two sources are supported, each as a documented rule table:

* **Official D-FINE** (``Peterande/D-FINE``): keys of the ``HybridEncoder``
  after their ``encoder.`` prefix, in training form (``conv`` + ``norm``,
  RepVGG ``conv1`` / ``conv2``) and in deploy form (``conv_bn_fused``,
  RepVGG ``conv``). Our module names are the official ones, so the map is
  the identity; :data:`OFFICIAL_ENCODER_KEY_PATTERNS` only validates that
  a key belongs to the official encoder layout.
* **transformers** ``DFineForObjectDetection``: keys under
  ``model.encoder_input_proj.`` and ``model.encoder.`` are renamed by
  :data:`TRANSFORMERS_ENCODER_KEY_RULES`. transformers splits the AIFI
  attention input projection into ``q_proj`` / ``k_proj`` / ``v_proj``;
  the official layout (and ours) packs them into one ``in_proj_weight``
  (3C, C) / ``in_proj_bias`` (3C,) in q, k, v order, so those three keys
  map onto one target and :func:`convert_transformers_encoder_state_dict`
  concatenates them.

All returned keys are relative to the neck (no ``neck.`` prefix).
"""

import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

from torch import Tensor

from .qkv import pack_qkv

# Parameter / buffer names of a BatchNorm, of a Conv-BN layer in training
# form, and in either form.
_BN_PARAM = r'(?:weight|bias|running_mean|running_var|num_batches_tracked)'
_BN = rf'norm\.{_BN_PARAM}'
_CB = rf'(?:conv\.weight|{_BN})'
_CONV_BN = rf'(?:{_CB}|conv_bn_fused\.(?:weight|bias))'
# A RepVGG bottleneck: two Conv-BN branches, or one biased conv (deploy).
_REPVGG = rf'(?:conv[12]\.{_CB}|conv\.(?:weight|bias))'
_CSP = rf'(?:conv[123]\.{_CONV_BN}|bottlenecks\.\d+\.{_REPVGG})'

#: Regular expressions (full match) for every key of the official
#: ``HybridEncoder`` state dict after its ``encoder.`` prefix, train and
#: deploy form. Submodule tree:
#:
#: * ``input_proj.{i}.conv/norm``: 1x1 projection (never fused upstream)
#: * ``encoder.{k}.layers.{j}``: AIFI (packed multi-head attention,
#:   ``linear1``, ``linear2``, ``norm1``, ``norm2``)
#: * ``lateral_convs.{j}``, ``downsample_convs.{j}.0.cv{1,2}``: Conv-BN
#: * ``{fpn,pan}_blocks.{j}``: RepNCSPELAN4 with ``cv1``, ``cv4``,
#:   ``cv{2,3}.0`` (CSP layer) and ``cv{2,3}.1`` (3x3 Conv-BN)
OFFICIAL_ENCODER_KEY_PATTERNS: Tuple[str, ...] = (
    rf'input_proj\.\d+\.{_CB}',
    r'encoder\.\d+\.layers\.\d+\.(?:self_attn\.(?:in_proj_weight|'
    r'in_proj_bias|out_proj\.(?:weight|bias))|'
    r'(?:linear1|linear2|norm1|norm2)\.(?:weight|bias))',
    rf'lateral_convs\.\d+\.{_CONV_BN}',
    rf'downsample_convs\.\d+\.0\.cv[12]\.{_CONV_BN}',
    rf'(?:fpn|pan)_blocks\.\d+\.(?:cv1|cv4|cv[23]\.1)\.{_CONV_BN}',
    rf'(?:fpn|pan)_blocks\.\d+\.cv[23]\.0\.{_CSP}',
)
_OFFICIAL_RE = [re.compile(p) for p in OFFICIAL_ENCODER_KEY_PATTERNS]

_T = r'^model\.encoder\.'
_AIFI = _T + r'aifi\.(\d+)\.layers\.(\d+)\.'
_ELAN = _T + r'(fpn|pan)_blocks\.(\d+)\.'
_AIFI_OUT = r'encoder.\1.layers.\2.'
_ELAN_OUT = r'\1_blocks.\2.'

#: (pattern, replacement) pairs for ``re.sub``, tried in order; the first
#: full match wins. transformers name -> our (= official) name:
#:
#: * ``encoder_input_proj.{i}.0`` / ``.1`` -> ``input_proj.{i}.conv`` /
#:   ``.norm``
#: * ``aifi.{k}`` -> ``encoder.{k}``; inside a layer ``self_attn.{q,k,v}_
#:   proj`` -> ``self_attn.in_proj_*`` (packed), ``self_attn.o_proj`` ->
#:   ``self_attn.out_proj``, ``self_attn_layer_norm`` -> ``norm1``,
#:   ``mlp.layers.0`` / ``.1`` -> ``linear1`` / ``linear2``,
#:   ``final_layer_norm`` -> ``norm2``
#: * ``downsample_convs.{j}.conv{1,2}`` -> ``downsample_convs.{j}.0.cv{1,2}``
#: * ELAN blocks: ``conv1`` -> ``cv1``, ``csp_rep1`` -> ``cv2.0``,
#:   ``conv2`` -> ``cv2.1``, ``csp_rep2`` -> ``cv3.0``, ``conv3`` ->
#:   ``cv3.1``, ``conv4`` -> ``cv4`` (names inside the CSP layers and
#:   ``lateral_convs`` are unchanged)
TRANSFORMERS_ENCODER_KEY_RULES: Tuple[Tuple[str, str], ...] = (
    (
        r'^model\.encoder_input_proj\.(\d+)\.0\.weight$',
        r'input_proj.\1.conv.weight',
    ),
    (
        rf'^model\.encoder_input_proj\.(\d+)\.1\.({_BN_PARAM})$',
        r'input_proj.\1.norm.\2',
    ),
    (
        _AIFI + r'self_attn\.[qkv]_proj\.(weight|bias)$',
        _AIFI_OUT + r'self_attn.in_proj_\3',
    ),
    (
        _AIFI + r'self_attn\.o_proj\.(weight|bias)$',
        _AIFI_OUT + r'self_attn.out_proj.\3',
    ),
    (
        _AIFI + r'self_attn_layer_norm\.(weight|bias)$',
        _AIFI_OUT + r'norm1.\3',
    ),
    (_AIFI + r'mlp\.layers\.0\.(weight|bias)$', _AIFI_OUT + r'linear1.\3'),
    (_AIFI + r'mlp\.layers\.1\.(weight|bias)$', _AIFI_OUT + r'linear2.\3'),
    (_AIFI + r'final_layer_norm\.(weight|bias)$', _AIFI_OUT + r'norm2.\3'),
    (_T + rf'lateral_convs\.(\d+)\.({_CB})$', r'lateral_convs.\1.\2'),
    (
        _T + rf'downsample_convs\.(\d+)\.conv([12])\.({_CB})$',
        r'downsample_convs.\1.0.cv\2.\3',
    ),
    (_ELAN + rf'conv1\.({_CB})$', _ELAN_OUT + r'cv1.\3'),
    (_ELAN + rf'csp_rep1\.({_CSP})$', _ELAN_OUT + r'cv2.0.\3'),
    (_ELAN + rf'conv2\.({_CB})$', _ELAN_OUT + r'cv2.1.\3'),
    (_ELAN + rf'csp_rep2\.({_CSP})$', _ELAN_OUT + r'cv3.0.\3'),
    (_ELAN + rf'conv3\.({_CB})$', _ELAN_OUT + r'cv3.1.\3'),
    (_ELAN + rf'conv4\.({_CB})$', _ELAN_OUT + r'cv4.\3'),
)
_TRANSFORMERS_RE = [
    (re.compile(p), r) for p, r in TRANSFORMERS_ENCODER_KEY_RULES
]
_QKV_RE = re.compile(_AIFI + r'self_attn\.([qkv])_proj\.(?:weight|bias)$')

#: Prefixes of the transformers keys that belong to the hybrid encoder.
TRANSFORMERS_ENCODER_PREFIXES: Tuple[str, ...] = (
    'model.encoder_input_proj.',
    'model.encoder.',
)


def map_official_encoder_key(key: str) -> str:
    """Map an official encoder key (after ``encoder.``) to our neck key.

    Works for training-form and deploy-form keys; the map is the identity
    because the module names are the same.

    Args:
        key (str): e.g. ``'fpn_blocks.0.cv2.0.bottlenecks.1.conv1.norm.bias'``
            or ``'lateral_convs.0.conv_bn_fused.bias'``.

    Returns:
        str: The key in :class:`DFineHybridEncoder`'s state dict.

    Raises:
        KeyError: If ``key`` is not part of the official encoder layout
            (e.g. it still carries the ``encoder.`` prefix of a full
            checkpoint, or belongs to the backbone / decoder).
    """
    if any(regex.fullmatch(key) for regex in _OFFICIAL_RE):
        return key
    raise KeyError(
        f'{key!r} is not an official D-FINE HybridEncoder key; expected a '
        f'key after the "encoder." prefix such as '
        f'"input_proj.0.conv.weight" or "fpn_blocks.0.cv1.norm.bias"'
    )


def map_transformers_encoder_key(key: str) -> str:
    """Map a transformers ``DFineForObjectDetection`` key to our neck key.

    ``...self_attn.{q,k,v}_proj.{weight,bias}`` all map to the packed
    ``...self_attn.in_proj_{weight,bias}``; use
    :func:`convert_transformers_encoder_state_dict` to concatenate them.

    Args:
        key (str): A full transformers key starting with
            ``model.encoder_input_proj.`` or ``model.encoder.``.

    Returns:
        str: The key in :class:`DFineHybridEncoder`'s state dict.

    Raises:
        KeyError: If ``key`` is not a transformers hybrid-encoder key.
    """
    for regex, replacement in _TRANSFORMERS_RE:
        if regex.match(key):
            return regex.sub(replacement, key)
    raise KeyError(
        f'{key!r} is not a transformers D-FINE hybrid-encoder key; '
        f'expected a key under {" or ".join(TRANSFORMERS_ENCODER_PREFIXES)} '
        f'such as "model.encoder.fpn_blocks.0.conv1.conv.weight"'
    )


def convert_official_encoder_state_dict(
    state_dict: Mapping[str, Tensor], prefix: str = 'encoder.'
) -> OrderedDict[str, Tensor]:
    """Extract and rename the hybrid-encoder part of an official state dict.

    Args:
        state_dict (Mapping[str, Tensor]): Official model state dict
            (train or deploy form), e.g. ``ckpt['model']`` or
            ``ckpt['ema']['module']``.
        prefix (str): Prefix of the encoder keys. Defaults to
            ``'encoder.'``.

    Returns:
        OrderedDict[str, Tensor]: Our neck's state dict (loads with
        ``strict=True`` into a neck of the same variant and form).

    Raises:
        KeyError: If a key under ``prefix`` is not an official encoder key.
    """
    return OrderedDict(
        (map_official_encoder_key(key[len(prefix) :]), value)
        for key, value in state_dict.items()
        if key.startswith(prefix)
    )


def convert_transformers_encoder_state_dict(
    state_dict: Mapping[str, Tensor],
) -> OrderedDict[str, Tensor]:
    """Extract, rename and pack the hybrid-encoder part of a transformers
    ``DFineForObjectDetection`` state dict.

    Keys outside :data:`TRANSFORMERS_ENCODER_PREFIXES` are ignored.

    Args:
        state_dict (Mapping[str, Tensor]): transformers model state dict.

    Returns:
        OrderedDict[str, Tensor]: Our neck's state dict (train form).

    Raises:
        KeyError: If an encoder key is unknown, or a q/k/v projection is
            missing one of its three parts.
    """
    converted: OrderedDict[str, Tensor] = OrderedDict()
    # packed target key -> {'q': tensor, 'k': tensor, 'v': tensor}
    qkv_parts: Dict[str, Dict[str, Tensor]] = {}
    for key, value in state_dict.items():
        if not key.startswith(TRANSFORMERS_ENCODER_PREFIXES):
            continue
        target = map_transformers_encoder_key(key)
        part = _qkv_part(key)
        if part is None:
            converted[target] = value
        else:
            converted.setdefault(target, None)  # keep the key order
            qkv_parts.setdefault(target, {})[part] = value
    for target, parts in qkv_parts.items():
        converted[target] = pack_qkv(parts, target)
    return converted


def _qkv_part(key: str) -> Optional[str]:
    """Return ``'q'``, ``'k'`` or ``'v'`` for an AIFI projection key."""
    match = _QKV_RE.match(key)
    return None if match is None else match.group(3)
