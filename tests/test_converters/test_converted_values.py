"""Converted values, tensor by tensor: for every variant (N-X), the official
layout (train and deploy form) lands under the documented key map with
every value unchanged and nothing else dropped, and transformers' separate
q/k/v projections are packed in q, k, v order (checked by slicing).

The documented map is written out here, not taken from the converter, so
that a wrong rule in the converter fails (transformers' other keys are
covered value by value by the output parity of test_dfine_parity.py)."""

import re

import pytest
import torch
from helpers import layout_state_dict

from dfine_mm.converters.dfine import convert_dfine_state_dict

VARIANTS = ['n', 's', 'm', 'l', 'x']

#: official prefix -> dfine_mm prefix; the rest of the key is kept
OFFICIAL_MAP = [
    ('backbone.', 'backbone.'),
    ('encoder.', 'neck.'),
    ('decoder.decoder.layers.', 'decoder.layers.'),
    ('decoder.decoder.lqe_layers.', 'bbox_head.lqe_layers.'),
    ('decoder.decoder.up', 'decoder.up'),
    ('decoder.decoder.reg_scale', 'decoder.reg_scale'),
    ('decoder.query_pos_head.', 'decoder.query_pos_head.'),
    ('decoder.input_proj.', 'input_proj.'),
    ('decoder.enc_output.', 'enc_output.'),
    ('decoder.denoising_class_embed.', 'dn_query_generator.label_embedding.'),
    ('decoder.enc_score_head.', 'bbox_head.enc_cls_branch.'),
    ('decoder.enc_bbox_head.', 'bbox_head.enc_reg_branch.'),
    ('decoder.dec_score_head.', 'bbox_head.cls_branches.'),
    ('decoder.pre_bbox_head.', 'bbox_head.pre_reg_branch.'),
    ('decoder.dec_bbox_head.', 'bbox_head.reg_branches.'),
]
#: official buffers rebuilt by the model (copies and derived values)
OFFICIAL_DROPPED = {
    'decoder.up', 'decoder.reg_scale', 'decoder.anchors',
    'decoder.valid_mask',
}  # fmt: skip


def _documented_key(key: str) -> str:
    for source, target in OFFICIAL_MAP:
        if key.startswith(source):
            return target + key[len(source) :]
    raise AssertionError(f'{key} is not in the documented map')


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('deploy', [False, True])
def test_official_values_arrive_under_the_documented_keys(variant, deploy):
    source = layout_state_dict(
        f'official_{variant}{"_deploy" if deploy else ""}'
    )
    converted, fmt = convert_dfine_state_dict(source)
    assert fmt == 'official'
    expected = {
        _documented_key(key): value
        for key, value in source.items()
        if key not in OFFICIAL_DROPPED
    }
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        assert converted[key].dtype == value.dtype, key
        assert torch.equal(converted[key], value), key


def _transformers_source(variant: str, seed: int) -> dict:
    """transformers' state dict of ``variant`` with every float tensor
    redrawn from one generator (all values distinct)."""
    pytest.importorskip('transformers')
    from dfine_mm.testing import build_transformers_dfine

    model = build_transformers_dfine(variant, num_labels=80)
    source = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    for value in source.values():
        if value.is_floating_point():
            value.copy_(torch.rand(value.shape, generator=gen) + 0.5)
    return source


@pytest.mark.parametrize('variant', VARIANTS)
def test_transformers_qkv_is_packed_q_k_v(variant):
    source = _transformers_source(variant, seed=0)
    converted, fmt = convert_dfine_state_dict(source)
    assert fmt == 'transformers'
    qkv = re.compile(r'^(.+\.self_attn)\.q_proj\.(weight|bias)$')
    checked = 0
    for key in source:
        match = qkv.match(key)
        if not match:
            continue
        attn, kind = match.groups()
        parts = [source[f'{attn}.{p}_proj.{kind}'] for p in 'qkv']
        if attn.startswith('model.decoder.'):
            target = attn[len('model.') :] + f'.in_proj_{kind}'
        else:  # model.encoder.aifi.{i}.layers.{j}.self_attn
            tail = attn[len('model.encoder.aifi.') :]
            target = f'neck.encoder.{tail}.in_proj_{kind}'
        packed = converted[target]
        size = parts[0].shape[0]
        for index, part in enumerate(parts):
            assert torch.equal(
                packed[index * size:(index + 1) * size], part
            ), (target, 'qkv'[index])  # fmt: skip
        checked += 1
    # one weight and one bias per decoder layer and per encoder layer
    assert checked >= 2 * 4


#: the heads transformers ties (listed under both names in its state dict)
TIED = r'^(?:model\.decoder\.)?(?:class|bbox)_embed\.'


@pytest.mark.parametrize('variant', VARIANTS)
def test_transformers_values_arrive_unchanged(variant):
    """Every converted tensor of transformers' layout is, bit for bit, one
    source tensor (the q/k/v packs aside), and every source tensor arrives
    (of the tied ``class_embed`` / ``bbox_embed`` pairs, which the state
    dict lists twice, one of each; here drawn apart): nothing is
    altered, dropped or invented. Where each lands is what the output
    parity of test_dfine_parity.py checks; the denoising label embedding,
    which no eval output uses, is checked by name here."""
    source = _transformers_source(variant, seed=1)
    converted, _ = convert_dfine_state_dict(source)
    qkv = re.compile(r'self_attn\.[qkv]_proj\.')
    by_bytes = {}
    for key, value in source.items():
        if value.is_floating_point() and not qkv.search(key):
            by_bytes.setdefault(value.numpy().tobytes(), []).append(key)
    used = set()
    for key, value in converted.items():
        if key.endswith(('in_proj_weight', 'in_proj_bias')):
            continue
        if not value.is_floating_point():
            continue
        keys = by_bytes.get(value.numpy().tobytes())
        assert keys, f'{key}: not a source tensor'
        used.update(keys)
    unused = {
        k for ks in by_bytes.values() for k in ks
        if k not in used and not re.match(TIED, k)
    }  # fmt: skip
    assert not unused, sorted(unused)[:5]
    assert torch.equal(
        converted['dn_query_generator.label_embedding.weight'],
        source['model.denoising_class_embed.weight'],
    )
