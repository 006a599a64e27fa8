"""D-FINE training forward: loss keys, gradients, empty batches."""

import math

import pytest
import torch
from helpers import NormGradFormats, det_samples
from torch import nn

from dfine_mm.converters.dfine import build_variant_model

SIZE = 320


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    model = build_variant_model('n', num_classes=5)
    model.init_weights()
    return model.train()


def samples(boxes_per_image, num_classes=5, seed=0):
    return det_samples(boxes_per_image, SIZE, SIZE, num_classes, seed)


def test_loss_keys_and_gradients(model):
    model.zero_grad()
    losses = model.loss(torch.rand(2, 3, SIZE, SIZE), samples([3, 1]))
    layers = 3
    expected = {'loss_cls', 'loss_bbox', 'loss_iou', 'loss_fgl'}
    for i in range(layers - 1):
        expected |= {f'd{i}.loss_{t}' for t in ('cls', 'bbox', 'iou', 'fgl')}
        expected |= {f'd{i}.loss_ddf', f'd{i}.dn_loss_ddf'}
        expected |= {
            f'd{i}.dn_loss_{t}' for t in ('cls', 'bbox', 'iou', 'fgl')
        }
    for prefix in ('pre_', 'enc_', 'dn_pre_'):
        expected |= {f'{prefix}loss_{t}' for t in ('cls', 'bbox', 'iou')}
    expected |= {f'dn_loss_{t}' for t in ('cls', 'bbox', 'iou', 'fgl')}
    assert set(losses) == expected
    assert all(math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    head = model.bbox_head
    # the distribution heads, LQE, class heads and denoising embedding
    for i in range(layers):
        assert head.reg_branches[i].layers[-1].weight.grad.abs().sum() > 0
        assert head.cls_branches[i].weight.grad.abs().sum() > 0
    assert head.lqe_layers[0].reg_conf.layers[-1].weight.grad is not None
    label_embedding = model.dn_query_generator.label_embedding.weight
    assert label_embedding.grad.abs().sum() > 0


def test_batch_without_boxes(model):
    model.zero_grad()
    losses = model.loss(torch.rand(2, 3, SIZE, SIZE), samples([0, 0]))
    assert all(math.isfinite(v.item()) for v in losses.values())
    for name, value in losses.items():
        if name.endswith(('loss_bbox', 'loss_iou', 'loss_fgl')):
            assert value.item() == 0.0, name
    assert losses['loss_cls'].item() > 0
    # no denoising queries without ground truth, yet every trainable
    # parameter gets a gradient (distributed training needs this)
    assert not any(k.startswith(('dn_pre', 'd0.dn')) for k in losses)
    sum(losses.values()).backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not missing, missing[:5]


def test_one_image_without_boxes(model):
    losses = model.loss(torch.rand(2, 3, SIZE, SIZE), samples([4, 0]))
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert losses['loss_bbox'].item() > 0


def test_label_outside_the_classes_is_an_error(model):
    bad = samples([2], num_classes=9, seed=3)
    bad[0].gt_instances.labels[:] = 7
    with pytest.raises(ValueError, match=r'labels must be in \[0, 5\)'):
        model.loss(torch.rand(1, 3, SIZE, SIZE), bad)


def test_too_few_positions_for_the_queries(model):
    with pytest.raises(ValueError, match='fewer than num_queries'):
        model.loss(torch.rand(1, 3, 128, 128), samples([1]))


def test_channels_last_training_gives_the_same_losses(model):
    """``DFineChannelsLastHook`` changes the memory format only, and every
    batch norm's backward gets a dense channels-last gradient; the old
    model argument is an error that names the hook."""
    from types import SimpleNamespace

    from mmdet.registry import MODELS
    from mmengine.config import Config

    from dfine_mm.converters.dfine import variant_config_path
    from dfine_mm.engine.hooks import DFineChannelsLastHook

    cfg = Config.fromfile(variant_config_path('n'))
    cfg.model.bbox_head.num_classes = 5
    cfg.model.backbone.init_cfg = None
    with pytest.raises(ValueError, match='DFineChannelsLastHook'):
        MODELS.build(dict(cfg.model, channels_last=True))
    fast = MODELS.build(cfg.model)
    fast.load_state_dict(model.state_dict())
    fast.train()
    runner = SimpleNamespace(model=fast)  # one process: no wrapper
    DFineChannelsLastHook().before_run(runner)
    images, batch = torch.rand(2, 3, SIZE, SIZE), samples([3, 1], seed=3)
    channels_last = torch.channels_last
    for level in fast.neck(fast.backbone(images)):
        assert level.is_contiguous(memory_format=channels_last)
    weight = fast.backbone.stem.stem1.conv.weight
    assert weight.is_contiguous(memory_format=channels_last)
    torch.manual_seed(1)  # the same denoising noise for both
    expected = model.loss(images, batch)
    torch.manual_seed(1)
    losses = fast.loss(images, batch)
    assert losses.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.allclose(losses[key], value, rtol=1e-4, atol=1e-5), key
    with NormGradFormats() as formats:
        sum(losses.values()).backward()
    norms = [m for m in fast.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(formats.dense) == len(norms) and all(formats.dense)
    with pytest.raises(ValueError, match=r"no \['encoder'\]"):
        hook = DFineChannelsLastHook(parts=('backbone', 'encoder'))
        hook.before_run(runner)
