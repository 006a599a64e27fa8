"""DFineHybridEncoder: sizes, parameter counts, deploy fusion, position
embedding and numerical parity with transformers' D-FINE encoder."""

import copy

import pytest
import torch
from helpers import NECK_VARIANTS, TINY_NECK
from mmdet.registry import MODELS

from dfine_mm.converters.encoder_keys import (
    convert_transformers_encoder_state_dict,
)
from dfine_mm.models.layers.aifi import sincos_position_embedding_2d
from dfine_mm.models.necks import DFineHybridEncoder

# The official encoder parameter counts (train mode, input projections
# included) of NECK_VARIANTS.
PARAM_COUNTS = dict(
    n=703_824, s=4_021_504, m=7_799_040, l=9_343_232, x=20_700_032
)
# (branch channels c4, bottlenecks per CSP layer n) from dfine_spec.md b.3
DERIVED = dict(n=(21, 2), s=(64, 1), m=(128, 2), l=(128, 3), x=(192, 3))

TINY = TINY_NECK


def _features(in_channels, height, width, batch=2, generator=None):
    strides = (8, 16, 32) if len(in_channels) == 3 else (16, 32)
    return tuple(
        torch.randn(batch, c, height // s, width // s, generator=generator)
        for c, s in zip(in_channels, strides)
    )


@torch.no_grad()
def _perturb(tensors, generator):
    """Add noise to every float tensor so that no branch is trivial; BN
    running variances are redrawn in [0.5, 1.5]."""
    for name, tensor in tensors:
        if not tensor.is_floating_point():
            continue
        if name.endswith('running_var'):
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            continue
        std = tensor.std().item() if tensor.numel() > 1 else 0.0
        scale = 0.5 * std if std > 0 else 0.1
        tensor.add_(torch.randn(tensor.shape, generator=generator) * scale)


def _perturbed(cfg, seed=0):
    neck = DFineHybridEncoder(**cfg)
    _perturb(neck.state_dict().items(), torch.Generator().manual_seed(seed))
    return neck.eval()


def _max_diff(outs_a, outs_b):
    return max((a - b).abs().max().item() for a, b in zip(outs_a, outs_b))


@pytest.mark.parametrize('variant', sorted(NECK_VARIANTS))
def test_official_parameter_count(variant):
    neck = DFineHybridEncoder(**NECK_VARIANTS[variant])
    num_params = sum(p.numel() for p in neck.parameters())
    assert num_params == PARAM_COUNTS[variant]
    branch, blocks = DERIVED[variant]
    assert neck.fpn_blocks[0].cv2[1].conv.out_channels == branch
    assert len(neck.fpn_blocks[0].cv2[0].bottlenecks) == blocks


def test_build_from_registry_and_output_shapes():
    neck = MODELS.build(dict(type='DFineHybridEncoder', **TINY))
    assert isinstance(neck, DFineHybridEncoder)
    for height, width in ((64, 64), (64, 96)):
        outs = neck(_features(TINY['in_channels'], height, width))
        assert isinstance(outs, tuple)
        assert [tuple(o.shape) for o in outs] == [
            (2, 16, height // s, width // s) for s in (8, 16, 32)
        ]


def test_two_levels_and_backward():
    cfg = dict(TINY, in_channels=(8, 16), use_encoder_idx=(1,))
    neck = DFineHybridEncoder(**cfg)
    outs = neck(_features((8, 16), 64, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 4, 2), (2, 16, 2, 1)]
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in neck.parameters())


def test_position_embedding_follows_input_size():
    neck = _perturbed(TINY)
    reference = copy.deepcopy(neck)  # has never seen an input
    small = _features(TINY['in_channels'], 64, 64)
    large = _features(TINY['in_channels'], 96, 128)
    with torch.no_grad():
        neck(small)
        out_large = neck(large)
        out_small = neck(small)
        assert _max_diff(out_large, reference(large)) == 0
        assert _max_diff(out_small, copy.deepcopy(reference)(small)) == 0
    cache = neck.encoder[0]._pos_embed_cache
    assert {key[:2] for key in cache} == {(2, 2), (3, 4)}
    assert not any('pos' in key for key in neck.state_dict())


@pytest.mark.filterwarnings('ignore::DeprecationWarning')
@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')
def test_traced_graph_follows_input_size():
    """ONNX export traces the model: the position embedding must be
    recorded from the traced shapes, not frozen at the tracing size."""
    neck = _perturbed(TINY)
    neck.switch_to_deploy()
    with torch.no_grad():
        traced = torch.jit.trace(
            neck, (_features(TINY['in_channels'], 64, 64),), check_trace=False
        )
        assert not neck.encoder[0]._pos_embed_cache
        feats = _features(TINY['in_channels'], 96, 128)
        assert _max_diff(traced(feats), neck(feats)) <= 1e-6


def test_sincos_position_embedding_layout():
    height, width, dims = 3, 5, 16
    embed = sincos_position_embedding_2d(height, width, dims, 10000.0)
    assert embed.shape == (1, height * width, dims)
    quarter = dims // 4
    omega = 1.0 / 10000.0 ** (torch.arange(quarter) / quarter)
    for row in range(height):
        for col in range(width):
            token = embed[0, row * width + col]  # row-major tokens
            expected = torch.cat(
                (
                    torch.sin(row * omega),
                    torch.cos(row * omega),
                    torch.sin(col * omega),
                    torch.cos(col * omega),
                )
            )
            torch.testing.assert_close(token, expected)


def _official_layout(height, width, dims, temperature=10000.0):
    """The upstream construction (dfine_spec.md b.1): grid from
    ``meshgrid(arange(w), arange(h), indexing='ij')``, first axis first."""
    axis1, axis2 = torch.meshgrid(
        torch.arange(width, dtype=torch.float32),
        torch.arange(height, dtype=torch.float32),
        indexing='ij',
    )
    quarter = dims // 4
    omega = 1.0 / temperature ** (
        torch.arange(quarter, dtype=torch.float32) / quarter
    )
    angle1 = axis1.flatten()[:, None] * omega[None]
    angle2 = axis2.flatten()[:, None] * omega[None]
    return torch.cat(
        (angle1.sin(), angle1.cos(), angle2.sin(), angle2.cos()), dim=1
    )[None]


def test_sincos_position_embedding_official_on_square_maps():
    for size in (1, 4, 20):
        ours = sincos_position_embedding_2d(size, size, 256)
        torch.testing.assert_close(
            ours, _official_layout(size, size, 256), rtol=0, atol=1e-6
        )
    # Deliberate difference: upstream scrambles non-square maps.
    ours = sincos_position_embedding_2d(2, 3, 8)
    assert not torch.allclose(ours, _official_layout(2, 3, 8))


def test_switch_to_deploy_keeps_outputs():
    neck = _perturbed(TINY)
    feats = _features(TINY['in_channels'], 64, 96)
    with torch.no_grad():
        before = neck(feats)
        neck.switch_to_deploy()
        after = neck(feats)
        state = neck.state_dict()
        neck.switch_to_deploy()  # idempotent
        assert neck.state_dict().keys() == state.keys()
        again = neck(feats)
    assert _max_diff(before, after) <= 1e-5
    assert _max_diff(after, again) == 0
    batch_norms = [
        name
        for name, module in neck.named_modules()
        if isinstance(module, torch.nn.BatchNorm2d)
    ]
    # Upstream's deploy() keeps only the input projections' BatchNorms.
    assert batch_norms == [f'input_proj.{i}.norm' for i in range(3)]


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(hidden_dim=18, num_heads=2), 'divisible by 4'),
        (dict(hidden_dim=24, num_heads=16), 'divisible by num_heads'),
        (dict(use_encoder_idx=(3,)), 'out of range'),
        (dict(use_encoder_idx=(-1,)), 'out of range'),
        (dict(use_encoder_idx=(2, 2)), 'repeats'),
        (dict(enc_act='swish'), 'enc_act'),
        (dict(num_encoder_layers=-1), 'num_encoder_layers'),
        (dict(expansion=0.01), 'expansion'),
        (dict(in_channels=()), 'at least one'),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DFineHybridEncoder(**dict(TINY, **kwargs))


def test_invalid_inputs():
    neck = DFineHybridEncoder(**TINY)
    feats = _features(TINY['in_channels'], 64, 64)
    with pytest.raises(ValueError, match='expected 3 feature levels'):
        neck(feats[:2])
    bad = (feats[0], feats[1], torch.randn(2, 32, 3, 2))
    with pytest.raises(ValueError, match='twice the next'):
        neck(bad)


def _transformers_model(cfg):
    """transformers DFineForObjectDetection with this variant's encoder.

    The backbone is a light HGNetV2 with the right output channels and the
    decoder has 3 layers: neither is used here, they only keep the build
    fast while the encoder keys come from the real model class.
    """
    transformers = pytest.importorskip('transformers')
    in_channels = list(cfg['in_channels'])
    num_levels = len(in_channels)
    stage_out = (
        [64, 256, *in_channels]
        if num_levels == 2
        else [
            in_channels[0] // 4,
            *in_channels,
        ]
    )
    backbone = transformers.HGNetV2Config(
        embedding_size=16,
        stem_channels=[3, 16, 16],
        hidden_sizes=stage_out,
        stage_in_channels=[16, *stage_out[:3]],
        stage_mid_channels=[16] * 4,
        stage_out_channels=stage_out,
        stage_num_blocks=[1] * 4,
        stage_numb_of_layers=[1] * 4,
        out_features=[f'stage{i}' for i in range(5 - num_levels, 5)],
    )
    hidden = cfg['hidden_dim']
    config = transformers.DFineConfig(
        backbone_config=backbone,
        encoder_in_channels=in_channels,
        feat_strides=[8, 16, 32][-num_levels:],
        encoder_hidden_dim=hidden,
        encoder_ffn_dim=cfg['dim_feedforward'],
        encode_proj_layers=list(cfg['use_encoder_idx']),
        hidden_expansion=cfg['expansion'],
        depth_mult=cfg['depth_mult'],
        eval_size=None,  # position embedding from the actual size
        d_model=min(hidden, 256),
        decoder_in_channels=[hidden] * num_levels,
        num_feature_levels=num_levels,
        decoder_n_points=[6, 6] if num_levels == 2 else [3, 6, 3],
        decoder_layers=3,
    )
    return transformers.DFineForObjectDetection(config).eval()


@pytest.mark.parametrize('variant', ['n', 's', 'l', 'x'])
def test_parity_with_transformers(variant):
    cfg = NECK_VARIANTS[variant]
    model = _transformers_model(cfg)
    generator = torch.Generator().manual_seed(0)
    encoder_prefixes = ('model.encoder.', 'model.encoder_input_proj.')
    _perturb(
        [
            (name, tensor)
            for name, tensor in model.state_dict().items()
            if name.startswith(encoder_prefixes)
        ],
        generator,
    )
    neck = DFineHybridEncoder(**cfg).eval()
    neck.load_state_dict(
        convert_transformers_encoder_state_dict(model.state_dict()),
        strict=True,
    )
    sizes = ((320, 320), (256, 384))
    inputs = [
        _features(cfg['in_channels'], h, w, generator=generator)
        for h, w in sizes
    ]
    with torch.no_grad():
        expected = []
        for feats in inputs:
            proj = [
                layer(x)
                for layer, x in zip(model.model.encoder_input_proj, feats)
            ]
            expected.append(
                model.model.encoder(inputs_embeds=proj).last_hidden_state
            )
        for feats, ref in zip(inputs, expected):
            outs = neck(feats)
            assert [o.shape for o in outs] == [r.shape for r in ref]
            assert _max_diff(outs, ref) <= 1e-4
        neck.switch_to_deploy()
        for feats, ref in zip(inputs, expected):
            assert _max_diff(neck(feats), ref) <= 1e-4
