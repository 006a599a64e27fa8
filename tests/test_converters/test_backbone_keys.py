import os.path as osp

import pytest
import torch

from dfine_mm.converters.backbone_keys import (
    convert_official_backbone_state_dict,
    convert_transformers_backbone_state_dict,
    is_hgnetv2_key,
    map_official_backbone_key,
    map_transformers_backbone_key,
)
from dfine_mm.models.backbones import HGNetV2

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data')
KEYS_DIR = osp.join(DATA_DIR, 'state_dict_keys')
OFFICIAL_N = osp.join(DATA_DIR, 'official_n', 'official_n_perturbed.pth')


@pytest.mark.parametrize(
    'key, expected',
    [
        (
            'model.embedder.stem1.convolution.weight',
            'stem.stem1.conv.weight',
        ),
        (
            'model.embedder.stem2a.normalization.num_batches_tracked',
            'stem.stem2a.bn.num_batches_tracked',
        ),
        ('model.embedder.stem4.lab.scale', 'stem.stem4.lab.scale'),
        (
            'model.encoder.stages.1.downsample.normalization.running_mean',
            'stages.1.downsample.bn.running_mean',
        ),
        (
            'model.encoder.stages.0.blocks.0.layers.5.convolution.weight',
            'stages.0.blocks.0.layers.5.conv.weight',
        ),
        (
            'model.encoder.stages.2.blocks.1.layers.0.conv1.normalization.'
            'running_var',
            'stages.2.blocks.1.layers.0.conv1.bn.running_var',
        ),
        (
            'model.encoder.stages.3.blocks.0.layers.2.conv2.lab.bias',
            'stages.3.blocks.0.layers.2.conv2.lab.bias',
        ),
        (
            'model.encoder.stages.2.blocks.2.aggregation.1.normalization.bias',
            'stages.2.blocks.2.aggregation.1.bn.bias',
        ),
    ],
)
def test_map_transformers_key(key, expected):
    assert map_transformers_backbone_key(key) == expected


@pytest.mark.parametrize(
    'key',
    [
        'model.backbone.model.embedder.stem1.convolution.weight',  # prefix
        'model.embedder.stem5.convolution.weight',
        'model.embedder.stem1.convolution.bias',
        'model.encoder.stages.0.blocks.0.layers.0.conv3.convolution.weight',
        'model.encoder.stages.0.blocks.0.aggregation.2.normalization.bias',
        'model.classifier.weight',
        'stem.stem1.conv.weight',  # already ours: not a transformers key
    ],
)
def test_unknown_transformers_key_raises(key):
    with pytest.raises(KeyError, match='not a key of transformers'):
        map_transformers_backbone_key(key)


@pytest.mark.parametrize(
    'key',
    [
        'backbone.stem.stem1.conv.weight',  # prefix not stripped
        'stem.stem1.convolution.weight',
        'stages.0.blocks.0.aggregation.0.conv.bias',
        'encoder.input_proj.0.conv.weight',
    ],
)
def test_unknown_official_key_raises(key):
    with pytest.raises(KeyError, match='not an official HGNetV2'):
        map_official_backbone_key(key)


@pytest.mark.parametrize(
    'arch, use_lab, freeze_norm',
    [('B0', True, False), ('B3', True, False), ('B6', False, True)],
)
def test_own_keys_are_valid(arch, use_lab, freeze_norm):
    model = HGNetV2(arch=arch, use_lab=use_lab, freeze_norm=freeze_norm)
    for key in model.state_dict():
        assert is_hgnetv2_key(key), key
        assert map_official_backbone_key(key) == key


@pytest.mark.parametrize('variant', ['n', 's', 'm', 'l', 'x'])
def test_official_state_dict_is_identity(variant):
    with open(osp.join(KEYS_DIR, f'official_{variant}.txt')) as f:
        keys = [line.split('\t')[0] for line in f if line.strip()]
    state = {key: torch.zeros(1) for key in keys}
    converted = convert_official_backbone_state_dict(state)
    backbone = [k for k in keys if k.startswith('backbone.')]
    assert len(converted) == len(backbone) > 300
    assert list(converted) == [k[len('backbone.') :] for k in backbone]


def test_transformers_layout_of_full_detector():
    """The backbone keys of ``DFineForObjectDetection`` (default config, L)
    all map, one to one, onto HGNetV2-B4 with frozen norms."""
    transformers = pytest.importorskip('transformers')
    config = transformers.DFineConfig(decoder_layers=2, num_queries=10)
    detector = transformers.DFineForObjectDetection(config)
    state = detector.state_dict()
    converted = convert_transformers_backbone_state_dict(state)
    assert len(converted) == sum(
        k.startswith('model.backbone.') for k in state
    )
    model = HGNetV2(arch='B4', freeze_norm=True)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in converted.items()} == expected


def test_convert_ignores_other_prefixes():
    state = {
        'backbone.stem.stem1.conv.weight': torch.zeros(1),
        'encoder.input_proj.0.conv.weight': torch.zeros(1),
        'model.backbone.model.embedder.stem1.lab.bias': torch.ones(1),
        'model.encoder.encoder.0.layers.0.fc1.weight': torch.zeros(1),
    }
    assert list(convert_official_backbone_state_dict(state)) == [
        'stem.stem1.conv.weight'
    ]
    converted = convert_transformers_backbone_state_dict(state)
    assert list(converted) == ['stem.stem1.lab.bias']
    assert (
        converted['stem.stem1.lab.bias']
        is state['model.backbone.model.embedder.stem1.lab.bias']
    )


def test_official_n_checkpoint_loads_strictly():
    """A real official checkpoint (D-FINE-N, perturbed random weights)."""
    state = torch.load(OFFICIAL_N, map_location='cpu', weights_only=True)
    converted = convert_official_backbone_state_dict(state['model'])
    model = HGNetV2(arch='B0', use_lab=True, out_indices=(2, 3))
    model.load_state_dict(converted, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state['model']['backbone.' + key])
