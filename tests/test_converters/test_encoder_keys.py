"""Key maps official / transformers -> DFineHybridEncoder, and the neck's
state-dict layout against the official one (train and deploy form)."""

import hashlib
import os.path as osp

import pytest
import torch
from helpers import NECK_VARIANTS, REPO_ROOT

from dfine_mm.converters.encoder_keys import (
    convert_official_encoder_state_dict,
    convert_transformers_encoder_state_dict,
    map_official_encoder_key,
    map_transformers_encoder_key,
)
from dfine_mm.models.necks import DFineHybridEncoder

DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data')
KEYS_DIR = osp.join(DATA_DIR, 'state_dict_keys')
OFFICIAL_N = osp.join(DATA_DIR, 'official_n', 'official_n_perturbed.pth')


# sha256 (first 16 hex digits) and line count of the sorted lines
# 'key<TAB>shape<TAB>dtype' of the 'encoder.' entries (prefix removed) of
# shared/reference/state_dict_keys/official_{v}[_deploy].txt, i.e. the
# official HybridEncoder layout, so that the check needs no shared files.
OFFICIAL_LAYOUT_DIGESTS = {
    ('n', False): (234, 'dd6e90dec5bd9b99'),
    ('n', True): (78, 'ea8cd51fbe29fa5e'),
    ('s', False): (354, '1ea00ec02c1a3958'),
    ('s', True): (122, '22fa9257b78a7a95'),
    ('m', False): (450, '78407b8bcbea8337'),
    ('m', True): (138, 'c4ab1b45e4fdb02f'),
    ('l', False): (546, '31ac5b17edb8c659'),
    ('l', True): (154, '7892e7c4a2e5fe3b'),
    ('x', False): (546, 'fad54fe1bbb8fb7b'),
    ('x', True): (154, '94839ab6142447a4'),
}


def _layout_lines(state_dict):
    return sorted(
        f'{key}\t{tuple(value.shape)}\t{str(value.dtype)[len("torch.") :]}'
        for key, value in state_dict.items()
    )


def _digest(lines):
    return hashlib.sha256('\n'.join(lines).encode()).hexdigest()[:16]


def _official_lines(variant, deploy):
    """'encoder.' lines of the official key list, mapped to our keys."""
    suffix = '_deploy' if deploy else ''
    path = osp.join(KEYS_DIR, f'official_{variant}{suffix}.txt')
    lines = []
    with open(path) as f:
        for line in f:
            if not line.startswith('encoder.'):
                continue
            key, shape, dtype = line.rstrip('\n').split('\t')
            key = map_official_encoder_key(key[len('encoder.') :])
            lines.append(f'{key}\t{shape}\t{dtype}')
    return sorted(lines)


def _neck(variant, deploy):
    neck = DFineHybridEncoder(**NECK_VARIANTS[variant]).eval()
    if deploy:
        neck.switch_to_deploy()
    return neck


@pytest.mark.parametrize('deploy', [False, True], ids=['train', 'deploy'])
@pytest.mark.parametrize('variant', sorted(NECK_VARIANTS))
def test_state_dict_layout_equals_official(variant, deploy):
    lines = _layout_lines(_neck(variant, deploy).state_dict())
    assert (len(lines), _digest(lines)) == OFFICIAL_LAYOUT_DIGESTS[
        (variant, deploy)
    ]
    if KEYS_DIR is not None:  # readable diff when the lists are present
        assert lines == _official_lines(variant, deploy)


def _fake_official_state_dict(variant, deploy):
    """A full official-style state dict (random values) built from the
    official key list: ``encoder.*`` plus some backbone/decoder keys."""
    suffix = '_deploy' if deploy else ''
    path = osp.join(KEYS_DIR, f'official_{variant}{suffix}.txt')
    state_dict = {}
    with open(path) as f:
        for line in f:
            key, shape, dtype = line.rstrip('\n').split('\t')
            if not key.startswith(('encoder.', 'backbone.stem.')):
                continue
            shape = tuple(int(s) for s in shape.strip('()').split(',') if s)
            if dtype == 'int64':
                state_dict[key] = torch.zeros(shape, dtype=torch.int64)
            elif key.endswith('running_var'):
                state_dict[key] = torch.rand(shape) + 0.5
            else:
                state_dict[key] = torch.randn(shape) * 0.02
    return state_dict


@pytest.mark.parametrize('deploy', [False, True], ids=['train', 'deploy'])
@pytest.mark.parametrize('variant', ['n', 'x'])
def test_official_state_dict_loads_strictly(variant, deploy):
    official = _fake_official_state_dict(variant, deploy)
    converted = convert_official_encoder_state_dict(official)
    assert not any(key.startswith('stem') for key in converted)
    neck = _neck(variant, deploy)
    neck.load_state_dict(converted, strict=True)
    for key, value in converted.items():
        assert torch.equal(neck.state_dict()[key], value)
    in_channels = NECK_VARIANTS[variant]['in_channels']
    feats = tuple(
        torch.rand(
            1, c, 2 ** (len(in_channels) - i), 2 ** (len(in_channels) - i)
        )
        for i, c in enumerate(in_channels)
    )
    with torch.no_grad():
        outs = neck(feats)
    assert all(torch.isfinite(o).all() for o in outs)


def test_official_n_checkpoint_loads_strictly():
    checkpoint = torch.load(OFFICIAL_N, map_location='cpu')
    converted = convert_official_encoder_state_dict(checkpoint['model'])
    neck = _neck('n', deploy=False)
    neck.load_state_dict(converted, strict=True)
    feats = (torch.rand(2, 512, 20, 20), torch.rand(2, 1024, 10, 10))
    with torch.no_grad():
        before = neck(feats)
        neck.switch_to_deploy()
        after = neck(feats)
    assert max((a - b).abs().max() for a, b in zip(before, after)) <= 1e-5


@pytest.mark.parametrize(
    'key',
    [
        'input_proj.1.norm.num_batches_tracked',
        'encoder.0.layers.0.self_attn.in_proj_weight',
        'encoder.0.layers.0.linear2.bias',
        'lateral_convs.0.conv_bn_fused.weight',
        'downsample_convs.1.0.cv2.norm.running_var',
        'fpn_blocks.0.cv2.0.bottlenecks.2.conv1.conv.weight',
        'pan_blocks.1.cv3.0.bottlenecks.0.conv.bias',
        'pan_blocks.1.cv3.0.conv2.conv_bn_fused.bias',
        'fpn_blocks.1.cv4.norm.weight',
    ],
)
def test_map_official_key_is_identity(key):
    assert map_official_encoder_key(key) == key


@pytest.mark.parametrize(
    'key',
    [
        'encoder.input_proj.0.conv.weight',  # prefix not stripped
        'backbone.stem.stem1.conv.weight',
        'decoder.input_proj.0.conv.weight',
        'input_proj.0.conv.bias',
        'fpn_blocks.0.cv5.conv.weight',
        'encoder.0.layers.0.self_attn.q_proj.weight',
    ],
)
def test_map_official_key_rejects_unknown(key):
    with pytest.raises(KeyError, match='not an official'):
        map_official_encoder_key(key)


@pytest.mark.parametrize(
    'key, expected',
    [
        (
            'model.encoder_input_proj.1.0.weight',
            'input_proj.1.conv.weight',
        ),
        (
            'model.encoder_input_proj.0.1.running_mean',
            'input_proj.0.norm.running_mean',
        ),
        (
            'model.encoder.aifi.0.layers.0.self_attn.k_proj.bias',
            'encoder.0.layers.0.self_attn.in_proj_bias',
        ),
        (
            'model.encoder.aifi.0.layers.0.self_attn.o_proj.weight',
            'encoder.0.layers.0.self_attn.out_proj.weight',
        ),
        (
            'model.encoder.aifi.0.layers.0.self_attn_layer_norm.bias',
            'encoder.0.layers.0.norm1.bias',
        ),
        (
            'model.encoder.aifi.0.layers.0.mlp.layers.1.weight',
            'encoder.0.layers.0.linear2.weight',
        ),
        (
            'model.encoder.aifi.0.layers.0.final_layer_norm.weight',
            'encoder.0.layers.0.norm2.weight',
        ),
        (
            'model.encoder.lateral_convs.1.norm.num_batches_tracked',
            'lateral_convs.1.norm.num_batches_tracked',
        ),
        (
            'model.encoder.downsample_convs.0.conv2.conv.weight',
            'downsample_convs.0.0.cv2.conv.weight',
        ),
        (
            'model.encoder.fpn_blocks.0.conv1.norm.bias',
            'fpn_blocks.0.cv1.norm.bias',
        ),
        (
            'model.encoder.fpn_blocks.1.csp_rep1.bottlenecks.0.conv2.conv.'
            'weight',
            'fpn_blocks.1.cv2.0.bottlenecks.0.conv2.conv.weight',
        ),
        (
            'model.encoder.pan_blocks.0.conv2.norm.running_var',
            'pan_blocks.0.cv2.1.norm.running_var',
        ),
        (
            'model.encoder.pan_blocks.0.csp_rep2.conv1.conv.weight',
            'pan_blocks.0.cv3.0.conv1.conv.weight',
        ),
        (
            'model.encoder.pan_blocks.1.conv3.conv.weight',
            'pan_blocks.1.cv3.1.conv.weight',
        ),
        (
            'model.encoder.pan_blocks.1.conv4.norm.weight',
            'pan_blocks.1.cv4.norm.weight',
        ),
    ],
)
def test_map_transformers_key(key, expected):
    assert map_transformers_encoder_key(key) == expected


@pytest.mark.parametrize(
    'key',
    [
        'encoder.fpn_blocks.0.conv1.conv.weight',  # not a full key
        'model.backbone.model.embedder.stem1.convolution.weight',
        'model.decoder.layers.0.self_attn.q_proj.weight',
        'model.encoder.fpn_blocks.0.conv5.conv.weight',
        'model.encoder.fpn_blocks.0.csp_rep1.conv1.conv.bias',
        'model.encoder.aifi.0.layers.0.mlp.layers.2.weight',
    ],
)
def test_map_transformers_key_rejects_unknown(key):
    with pytest.raises(KeyError, match='not a transformers'):
        map_transformers_encoder_key(key)


def test_convert_transformers_packs_qkv_in_order():
    prefix = 'model.encoder.aifi.0.layers.0.self_attn.'
    parts = {p: torch.full((4, 4), float(i)) for i, p in enumerate('qkv')}
    state_dict = {f'{prefix}{p}_proj.weight': t for p, t in parts.items()}
    state_dict['model.decoder.something'] = torch.zeros(1)  # ignored
    converted = convert_transformers_encoder_state_dict(state_dict)
    packed = converted['encoder.0.layers.0.self_attn.in_proj_weight']
    assert list(converted) == ['encoder.0.layers.0.self_attn.in_proj_weight']
    assert torch.equal(packed, torch.cat([parts[p] for p in 'qkv']))
    del state_dict[f'{prefix}k_proj.weight']
    with pytest.raises(KeyError, match=r"\['k'\]"):
        convert_transformers_encoder_state_dict(state_dict)


def test_convert_transformers_model_state_dict():
    transformers = pytest.importorskip('transformers')
    backbone = transformers.HGNetV2Config(
        embedding_size=16,
        stem_channels=[3, 16, 16],
        hidden_sizes=[64, 256, 512, 1024],
        stage_in_channels=[16, 64, 256, 512],
        stage_mid_channels=[16] * 4,
        stage_out_channels=[64, 256, 512, 1024],
        stage_num_blocks=[1] * 4,
        stage_numb_of_layers=[1] * 4,
        out_features=['stage3', 'stage4'],
    )
    config = transformers.DFineConfig(  # D-FINE-N encoder settings
        backbone_config=backbone,
        encoder_in_channels=[512, 1024],
        feat_strides=[16, 32],
        encoder_hidden_dim=128,
        encoder_ffn_dim=512,
        encode_proj_layers=[1],
        hidden_expansion=0.34,
        depth_mult=0.5,
        d_model=128,
        decoder_in_channels=[128, 128],
        num_feature_levels=2,
        decoder_n_points=[6, 6],
        decoder_layers=3,
    )
    model = transformers.DFineForObjectDetection(config)
    state_dict = model.state_dict()
    converted = convert_transformers_encoder_state_dict(state_dict)
    neck = DFineHybridEncoder(**NECK_VARIANTS['n'])
    assert _layout_lines(converted) == _layout_lines(neck.state_dict())
    neck.load_state_dict(converted, strict=True)
    attn = 'model.encoder.aifi.0.layers.0.self_attn.'
    torch.testing.assert_close(
        neck.encoder[0].layers[0].self_attn.in_proj_weight[128:256],
        state_dict[f'{attn}k_proj.weight'],
    )
