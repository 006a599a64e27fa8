"""D-FINE with ``fdr=False``: RT-DETR-style box regression, the paper's
ablation baseline. Trains, predicts, and keeps the rest of the model."""

import math

import pytest
import torch
from helpers import det_samples
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from dfine_mm.converters.dfine import variant_config_path
from dfine_mm.models.layers.dfine_transformer_decoder import (
    DFineTransformerDecoder,
)

SIZE = 128


def build(detector_fdr=True, **head):
    register_all_modules()
    cfg = Config.fromfile(variant_config_path('n'))
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = 5
    cfg.model.bbox_head.update(head)
    cfg.model.num_queries = 20
    cfg.model.test_cfg.max_per_img = 20
    cfg.model.dn_cfg.num_denoising = 10
    cfg.model.fdr = detector_fdr
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def plain():
    return build(False, loss_fgl=None, loss_ddf=None, union_matching=False)


def test_plain_model_layout(plain):
    head = plain.bbox_head
    assert not plain.decoder.fdr and not head.fdr
    assert head.pre_reg_branch is None and len(head.lqe_layers) == 0
    assert all(b.layers[-1].out_features == 4 for b in head.reg_branches)
    fdr = build()
    names = {n for n, _ in fdr.named_parameters()}
    plain_names = {n for n, _ in plain.named_parameters()}
    # only the FDR-specific branches are gone; the rest is D-FINE-N's
    assert plain_names < names
    assert all(
        n.startswith(('bbox_head.lqe_layers', 'bbox_head.pre_reg_branch'))
        for n in names - plain_names
    )
    for name, param in plain.named_parameters():
        if not name.startswith('bbox_head.reg_branches'):
            assert param.shape == dict(fdr.named_parameters())[name].shape


def test_plain_model_trains(plain):
    plain.train()
    plain.zero_grad()
    losses = plain.loss(
        torch.rand(2, 3, SIZE, SIZE), det_samples([3, 1], SIZE, SIZE)
    )
    names = set(losses)
    assert 'loss_cls' in names and 'd0.loss_bbox' in names
    assert 'enc_loss_iou' in names and 'dn_loss_bbox' in names
    assert 'd1.dn_loss_iou' in names
    assert not any(('fgl' in n or 'ddf' in n or 'pre_' in n) for n in names)
    assert all(math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    for branch in plain.bbox_head.reg_branches:
        assert branch.layers[-1].weight.grad.abs().sum() > 0


def test_plain_model_predicts_from_any_layer(plain):
    plain.eval()
    samples = det_samples([1, 1], SIZE, SIZE)
    for sample in samples:
        sample.set_metainfo(dict(scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        for index in range(plain.decoder.num_layers):
            plain.decoder.eval_idx = index
            results = plain.predict(torch.rand(2, 3, SIZE, SIZE), samples)
            boxes = results[0].pred_instances.bboxes
            assert boxes.shape == (20, 4) and torch.isfinite(boxes).all()
    plain.decoder.eval_idx = plain.decoder.num_layers - 1


def test_box_decode_looks_forward_twice():
    """Training outputs refine the previous layer's undetached box, which
    equals the detached refinement in value and passes its gradient."""
    decoder = DFineTransformerDecoder(
        num_layers=2, layer_cfg=dict(embed_dims=8, num_heads=2,
                                     feedforward_channels=16,
                                     num_points=(2,)),
        fdr=False,
    )  # fmt: skip
    branches = torch.nn.ModuleList(torch.nn.Linear(8, 4) for _ in range(2))
    query = torch.randn(1, 3, 8)
    reference = torch.rand(1, 3, 4) * 0.5 + 0.25
    value = torch.randn(1, 16, 8)
    decoder.train()
    out = decoder(query, reference, value, [(4, 4)], branches, None)
    decoder.eval()
    with torch.no_grad():
        ref = decoder(query, reference, value, [(4, 4)], branches, None)
    assert out['corners'] is None and out['anchors'] is None
    torch.testing.assert_close(out['references'].detach(), ref['references'])
    out['references'][1].sum().backward()
    assert branches[0].weight.grad.abs().sum() > 0


def test_conflicting_or_invalid_settings_are_errors():
    with pytest.raises(ValueError, match='conflicts with DFINE'):
        build(False, fdr=True)
    with pytest.raises(ValueError, match='set both to None'):
        build(False)
