"""Key maps for the decoder, query selection and head parts of D-FINE.

Official D-FINE keeps them all under ``decoder.`` (``DFINETransformer``);
transformers spreads them over ``model.`` (``DFineModel``), ``class_embed``
and ``bbox_embed``. dfine_mm splits them mmdet-style over the detector
(``input_proj``, ``enc_output``, ``dn_query_generator``), the decoder
(``decoder.layers``, ``decoder.query_pos_head``, ``up``, ``reg_scale``) and
the head (``bbox_head.*`` branches, LQE).
"""

import re
from typing import Dict, List, Optional, Tuple

from torch import Tensor

from .qkv import pack_qkv

Rule = Tuple[str, Optional[str]]  # (pattern, replacement or None = drop)

# official key (under ``decoder.``) -> dfine_mm key; first match wins
OFFICIAL_DECODER_RULES: List[Rule] = [
    (r'^(up|reg_scale|anchors|valid_mask)$', None),  # copies / derived
    (r'^decoder\.(up|reg_scale)$', r'decoder.\1'),
    (r'^decoder\.layers\.(.+)$', r'decoder.layers.\1'),
    (r'^decoder\.lqe_layers\.(.+)$', r'bbox_head.lqe_layers.\1'),
    (r'^query_pos_head\.(.+)$', r'decoder.query_pos_head.\1'),
    (r'^input_proj\.(.+)$', r'input_proj.\1'),
    (r'^enc_output\.(.+)$', r'enc_output.\1'),
    (
        r'^denoising_class_embed\.(.+)$',
        r'dn_query_generator.label_embedding.\1',
    ),
    (r'^enc_score_head\.(.+)$', r'bbox_head.enc_cls_branch.\1'),
    (r'^enc_bbox_head\.(.+)$', r'bbox_head.enc_reg_branch.\1'),
    (r'^dec_score_head\.(.+)$', r'bbox_head.cls_branches.\1'),
    (r'^pre_bbox_head\.(.+)$', r'bbox_head.pre_reg_branch.\1'),
    (r'^dec_bbox_head\.(.+)$', r'bbox_head.reg_branches.\1'),
]

# transformers key -> dfine_mm key (q/k/v projections are merged separately)
TRANSFORMERS_DECODER_RULES: List[Rule] = [
    (r'^model\.decoder\.(up|reg_scale)$', r'decoder.\1'),
    (
        r'^model\.decoder\.layers\.(\d+)\.self_attn\.o_proj\.(.+)$',
        r'decoder.layers.\1.self_attn.out_proj.\2',
    ),
    (
        r'^model\.decoder\.layers\.(\d+)\.self_attn_layer_norm\.(.+)$',
        r'decoder.layers.\1.norm1.\2',
    ),
    (
        r'^model\.decoder\.layers\.(\d+)\.encoder_attn\.(.+)$',
        r'decoder.layers.\1.cross_attn.\2',
    ),
    (
        r'^model\.decoder\.layers\.(\d+)\.mlp\.layers\.0\.(.+)$',
        r'decoder.layers.\1.linear1.\2',
    ),
    (
        r'^model\.decoder\.layers\.(\d+)\.mlp\.layers\.1\.(.+)$',
        r'decoder.layers.\1.linear2.\2',
    ),
    (
        r'^model\.decoder\.layers\.(\d+)\.final_layer_norm\.(.+)$',
        r'decoder.layers.\1.norm3.\2',
    ),
    (
        r'^model\.decoder\.layers\.(\d+)\.gateway\.(.+)$',
        r'decoder.layers.\1.gateway.\2',
    ),
    (r'^model\.decoder\.query_pos_head\.(.+)$', r'decoder.query_pos_head.\1'),
    (r'^model\.decoder\.pre_bbox_head\.(.+)$', r'bbox_head.pre_reg_branch.\1'),
    (r'^model\.decoder\.lqe_layers\.(.+)$', r'bbox_head.lqe_layers.\1'),
    # class_embed / bbox_embed exist twice (tied); both copies map alike
    (
        r'^(?:model\.decoder\.)?class_embed\.(.+)$',
        r'bbox_head.cls_branches.\1',
    ),
    (r'^(?:model\.decoder\.)?bbox_embed\.(.+)$', r'bbox_head.reg_branches.\1'),
    (r'^model\.enc_output\.0\.(.+)$', r'enc_output.proj.\1'),
    (r'^model\.enc_output\.1\.(.+)$', r'enc_output.norm.\1'),
    (r'^model\.enc_score_head\.(.+)$', r'bbox_head.enc_cls_branch.\1'),
    (r'^model\.enc_bbox_head\.(.+)$', r'bbox_head.enc_reg_branch.\1'),
    (
        r'^model\.denoising_class_embed\.(.+)$',
        r'dn_query_generator.label_embedding.\1',
    ),
    (r'^model\.decoder_input_proj\.(\d+)\.0\.(.+)$', r'input_proj.\1.conv.\2'),
    (r'^model\.decoder_input_proj\.(\d+)\.1\.(.+)$', r'input_proj.\1.norm.\2'),
]

_QKV = re.compile(
    r'^model\.decoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$'
)


def apply_rules(key: str, rules: List[Rule]) -> Tuple[bool, Optional[str]]:
    """Map ``key`` with the first matching rule.

    Returns:
        tuple: ``(matched, new_key)``; ``new_key`` is None when the rule
        drops the key.
    """
    for pattern, replacement in rules:
        if re.match(pattern, key):
            if replacement is None:
                return True, None
            return True, re.sub(pattern, replacement, key)
    return False, None


def map_official_decoder_key(key: str) -> Optional[str]:
    """Map a key of the official ``decoder.`` part (prefix removed).

    Returns:
        str | None: The dfine_mm key, or None for keys dfine_mm derives
        itself (``anchors``, ``valid_mask``, the duplicate ``up`` and
        ``reg_scale``).

    Raises:
        KeyError: For a key no rule knows.
    """
    matched, new_key = apply_rules(key, OFFICIAL_DECODER_RULES)
    if not matched:
        raise KeyError(f'unknown key in the official decoder: decoder.{key}')
    return new_key


def merge_transformers_qkv(
    state_dict: Dict[str, Tensor],
) -> Dict[str, Tensor]:
    """Pack transformers' separate q/k/v projections into
    ``self_attn.in_proj_weight`` / ``in_proj_bias`` (order q, k, v), the
    layout of ``nn.MultiheadAttention`` and of the official checkpoints.

    Returns:
        dict: dfine_mm keys to packed tensors.
    """
    parts: Dict[Tuple[str, str], Dict[str, Tensor]] = {}
    for key, value in state_dict.items():
        match = _QKV.match(key)
        if match:
            layer, which, kind = match.groups()
            parts.setdefault((layer, kind), {})[which] = value
    packed = {}
    for (layer, kind), qkv in parts.items():
        target = f'decoder.layers.{layer}.self_attn.in_proj_{kind}'
        packed[target] = pack_qkv(qkv, target)
    return packed


def is_transformers_qkv(key: str) -> bool:
    """Whether ``key`` is one of the q/k/v projections merged above."""
    return _QKV.match(key) is not None
