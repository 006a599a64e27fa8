import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from dfine_mm.converters.backbone_keys import (
    convert_transformers_backbone_state_dict,
)
from dfine_mm.models.backbones import HGNetV2
from dfine_mm.models.layers.frozen_batch_norm import FrozenBatchNorm2d
from dfine_mm.testing.transformers_dfine import HGNET_ARCHS

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)


KEYS_DIR = osp.join(REPO_ROOT, 'tests', 'data', 'state_dict_keys')

# The backbone settings of the released D-FINE configs (spec table a.3).
VARIANTS = {
    'n': dict(arch='B0', use_lab=True, out_indices=(2, 3)),
    's': dict(arch='B0', use_lab=True),
    'm': dict(arch='B2', use_lab=True),
    'l': dict(arch='B4', frozen_stages=0, freeze_norm=True),
    'x': dict(arch='B5', frozen_stages=0, freeze_norm=True),
}


def _num_params(model):
    total = sum(p.numel() for p in model.parameters())
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return total, frozen


@pytest.mark.parametrize(
    'cfg, total, frozen',
    [
        (VARIANTS['s'], 1_850_396, 0),
        (VARIANTS['m'], 6_026_626, 0),
        # The spec lists 24,930 and 25,442 frozen parameters for the whole
        # L and X detectors: those include the decoder's two non-trainable
        # scalars ``up`` and ``reg_scale``. The stems hold 24,928 / 25,440.
        (VARIANTS['l'], 13_507_680, 24_928),
        (VARIANTS['x'], 33_231_840, 25_440),
    ],
)
def test_parameter_counts(cfg, total, frozen):
    assert _num_params(HGNetV2(**cfg)) == (total, frozen)


def test_frozen_params_are_the_stem():
    model = HGNetV2(**VARIANTS['l'])
    stem = sum(p.numel() for p in model.stem.parameters())
    assert _num_params(model)[1] == stem
    assert all(not p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for p in model.stages.parameters())


def _read_official_backbone(variant):
    path = osp.join(KEYS_DIR, f'official_{variant}.txt')
    keys = {}
    with open(path) as f:
        for line in f:
            key, shape = line.rstrip('\n').split('\t')[:2]
            if key.startswith('backbone.'):
                shape = tuple(
                    int(s) for s in shape.strip('()').split(',') if s
                )
                keys[key[len('backbone.') :]] = shape
    return keys


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_official_key_layout(variant):
    expected = _read_official_backbone(variant)
    ours = {
        k: tuple(v.shape)
        for k, v in HGNetV2(**VARIANTS[variant]).state_dict().items()
    }
    assert len(expected) > 300
    assert sorted(set(ours) - set(expected)) == []
    assert sorted(set(expected) - set(ours)) == []
    assert ours == expected


# -- parity with transformers' D-FINE backbone ------------------------------


def _transformers_backbone(arch, use_lab, frozen_bn):
    """transformers' D-FINE backbone, built as ``DFineConvEncoder`` does,
    returning all four stages; its state-dict keys are those under
    ``model.backbone.`` in ``DFineForObjectDetection``."""
    transformers = pytest.importorskip('transformers')
    from transformers.models.d_fine.modeling_d_fine import DFineConvEncoder

    backbone_cfg = transformers.HGNetV2Config(
        **HGNET_ARCHS[arch],
        hidden_sizes=HGNET_ARCHS[arch]['stage_out_channels'],
        use_learnable_affine_block=use_lab,
        out_indices=[1, 2, 3, 4],
    )
    cfg = transformers.DFineConfig(
        backbone_config=backbone_cfg, freeze_backbone_batch_norms=frozen_bn
    )
    return DFineConvEncoder(cfg)


@torch.no_grad()
def _perturb(module, seed=0):
    """Add noise to every float tensor; running variances stay positive."""
    gen = torch.Generator().manual_seed(seed)
    for name, tensor in module.state_dict(keep_vars=True).items():
        if not tensor.is_floating_point():
            continue
        if name.endswith('running_var'):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            continue
        std = tensor.std().item() if tensor.numel() > 1 else 0.0
        scale = std if std > 0 else 1.0
        tensor.add_(0.2 * scale * torch.randn(tensor.shape, generator=gen))


@pytest.mark.parametrize(
    'arch, use_lab, frozen_bn',
    [('B0', True, False), ('B2', True, False), ('B4', False, True)],
)
def test_parity_with_transformers(arch, use_lab, frozen_bn):
    reference = _transformers_backbone(arch, use_lab, frozen_bn)
    _perturb(reference)
    reference.eval()

    model = HGNetV2(
        arch=arch,
        use_lab=use_lab,
        out_indices=(0, 1, 2, 3),
        freeze_norm=frozen_bn,
        frozen_stages=0 if frozen_bn else -1,
    ).eval()
    converted = convert_transformers_backbone_state_dict(
        reference.state_dict(), prefix=''
    )
    # strict: every one of our keys receives a value, nothing is left over
    model.load_state_dict(converted, strict=True)
    assert set(converted) == set(model.state_dict())

    gen = torch.Generator().manual_seed(1)
    for shape in [(2, 3, 128, 160), (1, 3, 97, 66)]:
        x = torch.rand(shape, generator=gen)
        with torch.no_grad():
            expected = reference.model(x).feature_maps
            outs = model(x)
        assert len(outs) == len(expected) == 4
        for out, exp in zip(outs, expected):
            assert out.shape == exp.shape
            assert exp.abs().max() > 1e-2  # not a trivially small map
            torch.testing.assert_close(out, exp, rtol=0, atol=1e-5)


def test_frozen_bn_checkpoint_loads_into_plain_bn():
    """transformers' checkpoints use frozen norms for every variant (no
    ``num_batches_tracked``); they still load strictly into N/S/M."""
    reference = _transformers_backbone('B0', use_lab=True, frozen_bn=True)
    converted = convert_transformers_backbone_state_dict(
        reference.state_dict(), prefix=''
    )
    assert not any(k.endswith('num_batches_tracked') for k in converted)
    model = HGNetV2(arch='B0', use_lab=True)
    model.load_state_dict(converted, strict=True)


# -- behaviour ---------------------------------------------------------------


@pytest.mark.parametrize(
    'out_indices, channels',
    [
        ((0, 1, 2, 3), (64, 256, 512, 1024)),
        ((2, 3), (512, 1024)),
        ((1,), (256,)),
    ],
)
def test_output_shapes_and_strides(out_indices, channels):
    model = HGNetV2(arch='B0', use_lab=True, out_indices=out_indices)
    assert model.out_channels == channels
    assert model.out_strides == tuple(4 * 2**i for i in out_indices)
    outs = model(torch.rand(2, 3, 64, 96))
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 64 // s, 96 // s) for c, s in zip(channels, model.out_strides)
    ]


def test_registered_and_built_from_config():
    model = MODELS.build(dict(type='HGNetV2', arch='B0', use_lab=True))
    assert isinstance(model, HGNetV2)
    assert model.out_channels == (256, 512, 1024)


def test_stem_pool_matches_ceil_mode():
    """The stem's stride-1 max-pool equals upstream's ceil_mode=True one."""
    pool = HGNetV2(arch='B0').stem.pool
    for size in [(7, 9), (8, 8), (5, 4)]:
        x = torch.randn(2, 3, *size)
        expected = F.max_pool2d(x, 2, 1, ceil_mode=True)
        assert torch.equal(pool(x), expected)


def test_lab_placement():
    model = HGNetV2(arch='B0', use_lab=True)
    keys = model.state_dict().keys()
    assert 'stem.stem1.lab.scale' in keys
    assert not any('downsample.lab' in k for k in keys)
    assert not any('conv1.lab' in k for k in keys)
    assert 'stages.2.blocks.0.layers.0.conv2.lab.bias' in keys
    assert 'stages.0.blocks.0.aggregation.1.lab.scale' in keys
    assert not any('lab' in k for k in HGNetV2(arch='B0').state_dict())


def _bn_modes(module):
    return {m.training for m in module.modules() if isinstance(m, _BatchNorm)}


def test_frozen_stages():
    model = HGNetV2(arch='B0', use_lab=True, frozen_stages=2)
    model.train()
    for frozen in [model.stem, model.stages[0], model.stages[1]]:
        assert all(not p.requires_grad for p in frozen.parameters())
        assert _bn_modes(frozen) == {False}
    for free in [model.stages[2], model.stages[3]]:
        assert all(p.requires_grad for p in free.parameters())
        assert _bn_modes(free) == {True}
    nothing = HGNetV2(arch='B0', frozen_stages=-1).train()
    assert all(p.requires_grad for p in nothing.parameters())


def test_norm_eval():
    model = HGNetV2(arch='B0', norm_eval=True)
    model.train()
    assert _bn_modes(model) == {False}
    assert model.training
    model = HGNetV2(arch='B0', norm_eval=False).train()
    assert _bn_modes(model) == {True}


def test_freeze_norm_builds_frozen_bn_only():
    model = HGNetV2(arch='B0', freeze_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert not any('num_batches_tracked' in k for k in model.state_dict())
    assert not any('.bn.' in name for name, _ in model.named_parameters())


@pytest.mark.parametrize('variant', ['s', 'l'])
def test_train_step(variant):
    """Backward works in train mode (in-place ReLU included); every
    trainable parameter gets a gradient, frozen ones stay untouched."""
    model = HGNetV2(**VARIANTS[variant]).train()
    frozen = {
        n: p.clone()
        for n, p in model.named_parameters()
        if not p.requires_grad
    }
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, name
        else:
            assert param.grad is None
            assert torch.equal(param, frozen[name])
    assert len(frozen) == (5 if variant == 'l' else 0)  # stem convs


def test_pretrained_init_cfg(tmp_path):
    source = HGNetV2(arch='B0', use_lab=True)
    _perturb(source)
    path = str(tmp_path / 'hgnetv2_b0.pth')
    torch.save(source.state_dict(), path)
    model = HGNetV2(
        arch='B0',
        use_lab=True,
        init_cfg=dict(type='Pretrained', checkpoint=path),
    )
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.parametrize(
    'kwargs, words',
    [
        (dict(arch='B7'), ['B7', 'B0, B1, B2, B3, B4, B5, B6']),
        (dict(out_indices=(1, 4)), ['(0, 1, 2, 3)', '(1, 4)']),
        (dict(out_indices=()), ['non-empty']),
        (dict(out_indices=(2, 1)), ['increasing']),
        (dict(out_indices=(1, 1)), ['increasing']),
        (dict(out_indices=2), ['sequence']),
        (dict(frozen_stages=5), ['[-1, 4]', '5']),
        (dict(frozen_stages=-2), ['[-1, 4]']),
    ],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError) as info:
        HGNetV2(**kwargs)
    for word in words:
        assert word in str(info.value)


# -- FrozenBatchNorm2d -------------------------------------------------------


def _filled_frozen_bn(channels=6):
    bn = FrozenBatchNorm2d(channels)
    gen = torch.Generator().manual_seed(3)
    bn.weight.copy_(torch.randn(channels, generator=gen))
    bn.bias.copy_(torch.randn(channels, generator=gen))
    bn.running_mean.copy_(torch.randn(channels, generator=gen))
    bn.running_var.copy_(torch.rand(channels, generator=gen) + 0.1)
    return bn


def test_frozen_bn_state_and_formula():
    bn = _filled_frozen_bn()
    assert list(bn.parameters()) == []
    assert sorted(bn.state_dict()) == [
        'bias',
        'running_mean',
        'running_var',
        'weight',
    ]
    x = torch.randn(2, 6, 5, 7)
    scale = bn.weight / torch.sqrt(bn.running_var + 1e-5)
    shift = bn.bias - bn.running_mean * scale
    expected = x * scale[:, None, None] + shift[:, None, None]
    bn.train()  # no effect: statistics are never batch statistics
    torch.testing.assert_close(bn(x), expected)
    x_grad = x.clone().requires_grad_()
    out = bn(x_grad)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    torch.testing.assert_close(x_grad.grad, scale[:, None, None].expand_as(x))
    assert torch.equal(bn.running_mean, _filled_frozen_bn().running_mean)


def test_frozen_bn_loads_plain_bn_state():
    plain = nn.BatchNorm2d(6)
    plain.load_state_dict(
        {
            **_filled_frozen_bn().state_dict(),
            'num_batches_tracked': torch.tensor(7),
        }
    )
    bn = FrozenBatchNorm2d(6)
    bn.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(2, 6, 3, 3)
    torch.testing.assert_close(bn(x), plain.eval()(x))
