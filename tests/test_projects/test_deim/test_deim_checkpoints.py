"""DEIM-D-FINE checkpoints through the D-FINE converter.

tests/data/state_dict_keys/deim_{v}.txt hold the key, shape and dtype of
every state-dict entry of the original DEIM-D-FINE models (made by
tests/data/deim/make_keys_fixture.py from DEIM's configs). DEIM keeps
D-FINE's model, so N/S/M have exactly D-FINE's layout; L/X train their
whole backbone with ordinary BatchNorm (``freeze_norm: False``) where
D-FINE-L/X freeze it, which adds one ``num_batches_tracked`` per backbone
BatchNorm and nothing else. Both directions load strictly: DEIM files into
DEIM models, and D-FINE-L/X files into DEIM-L/X (whose BatchNorms then keep
their own counters, which no computation reads).
"""

import functools
import glob
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, layout_state_dict, read_layout
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.runner import load_state_dict
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from dfine_mm.converters.checkpoint_loader import convert_loaded_checkpoint
from dfine_mm.converters.dfine import (
    convert_dfine_state_dict,
    detect_source_format,
    detect_variant,
    is_deploy_form,
)

VARIANTS = ('n', 's', 'm', 'l', 'x')
#: BatchNorms of the HGNetV2-B4 / B5 backbones (frozen in D-FINE-L / X)
BACKBONE_BNS = dict(l=80, x=130)
DEIM_CONFIGS = osp.join(REPO_ROOT, 'projects', 'DEIM', 'configs')


@functools.lru_cache
def deim_model(variant):
    """DEIM-D-FINE-``variant`` of the project's config in eval mode, without
    ImageNet weights (every test loads all of its tensors)."""
    register_all_modules()
    (path,) = glob.glob(
        osp.join(DEIM_CONFIGS, f'deim-dfine-{variant}_*_coco.py')
    )
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).eval()


def backbone_counters(keys):
    return {
        k
        for k in keys
        if k.startswith('backbone.') and k.endswith('.num_batches_tracked')
    }


@pytest.mark.parametrize('variant', VARIANTS)
def test_deim_layout_is_dfine_plus_backbone_bn_counters(variant):
    deim = read_layout(f'deim_{variant}')
    dfine = read_layout(f'official_{variant}')
    extra = set(deim) - set(dfine)
    # same order, nothing missing
    assert [entry for entry in deim if entry not in extra] == dfine
    expected = {
        (key.replace('.running_var', '.num_batches_tracked'), (), 'int64')
        for key, _, _ in dfine
        if key.startswith('backbone.') and key.endswith('.running_var')
    }
    assert len(expected) == dict(n=42, s=42, m=60, l=80, x=130)[variant]
    if variant in BACKBONE_BNS:
        assert extra == expected
    else:
        assert not extra
        assert backbone_counters(k for k, _, _ in dfine) == {
            key for key, _, _ in expected
        }


@pytest.mark.parametrize('variant', VARIANTS)
def test_deim_layout_loads_strictly(variant):
    source = layout_state_dict(f'deim_{variant}')
    assert detect_source_format(source) == 'official'
    converted, _ = convert_dfine_state_dict(source)
    assert detect_variant(converted) == variant
    assert not is_deploy_form(converted)
    # the whole backbone, BN counters included, comes through
    assert {k for k in converted if k.startswith('backbone.')} == {
        k for k in source if k.startswith('backbone.')
    }
    model = deim_model(variant)
    assert model.backbone.frozen_stages == -1
    assert not model.backbone.freeze_norm
    assert not [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ReLU) and not name.startswith('backbone.')
    ]
    model.load_state_dict(converted, strict=True)
    # every tensor arrives unchanged (the dropped ones are derived buffers)
    state = model.state_dict()
    for key, value in converted.items():
        assert torch.equal(state[key], value), key


def dfine_parameters():
    """Parameter counts of the D-FINE COCO configs (their metafile)."""
    import yaml

    with open(osp.join(REPO_ROOT, 'configs', 'dfine', 'metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    return {
        m['Name'].split('_')[0][-1]: m['Metadata']['Parameters']
        for m in models
        if m['Name'].endswith('_coco') and 'objects365' not in m['Name']
    }


@pytest.mark.parametrize('variant', VARIANTS)
def test_parameter_count_is_dfines(variant):
    """The same size as D-FINE: its parameter count, plus, for L / X, the
    backbone BN weights and biases that D-FINE freezes (buffers there)."""
    model = deim_model(variant)
    frozen_in_dfine = 0
    if variant in BACKBONE_BNS:
        frozen_in_dfine = sum(
            m.weight.numel() + m.bias.numel()
            for m in model.backbone.modules()
            if isinstance(m, _BatchNorm)
        )
    count = sum(p.numel() for p in model.parameters())
    assert count == dfine_parameters()[variant] + frozen_in_dfine
    assert frozen_in_dfine == dict(l=45_696, x=93_920).get(variant, 0)


@pytest.mark.parametrize('variant', sorted(BACKBONE_BNS))
def test_dfine_weights_load_into_deim_keeping_bn_counters(variant):
    """D-FINE-L/X files lack the backbone BN counters: a strict load fills
    them from the model (PyTorch's BatchNorm does so for state dicts
    without version metadata, mmengine ignores them), and no backbone
    BatchNorm reads them (none has ``momentum=None``)."""
    model = deim_model(variant)
    state = model.state_dict()
    counters = {k: state[k].clone() for k in backbone_counters(state)}
    assert len(counters) == BACKBONE_BNS[variant]
    assert all(
        m.momentum is not None
        for m in model.backbone.modules()
        if isinstance(m, _BatchNorm)
    )
    official = layout_state_dict(f'official_{variant}')
    converted, _ = convert_dfine_state_dict(official)
    assert not backbone_counters(converted)
    model.load_state_dict(converted, strict=True)
    state = model.state_dict()
    for key, value in {**converted, **counters}.items():
        assert torch.equal(state[key], value), key
    # mmengine's loader (init_detector, load_from; its file-reading part
    # is tested in test_checkpoint_loader.py), other values
    negated = {
        k: -v if v.is_floating_point() else v for k, v in official.items()
    }
    checkpoint = convert_loaded_checkpoint({'model': negated}, 'dfine.pth')
    load_state_dict(model, checkpoint['state_dict'], strict=True)
    state = model.state_dict()
    for key, value in converted.items():
        expected = -value if value.is_floating_point() else value
        assert torch.equal(state[key], expected), key
    for key, value in counters.items():
        assert torch.equal(state[key], value), key
