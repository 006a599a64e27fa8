"""FDRDINO's query selection against mmdet's ``DINO.pre_decoder``: the
same kept positions, values and gradients, with the encoder's box branch
on the kept rows only and, in training, no full-size activation kept for
the backward pass."""

import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, det_samples
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

CONFIG = osp.join(
    REPO_ROOT,
    'configs',
    'dino_fdr',
    'dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py',
)
SHAPES = ((16, 20), (8, 10), (4, 5), (2, 3))
B, Q = 2, 50
S = sum(h * w for h, w in SHAPES)


def _model():
    register_all_modules()
    cfg = Config.fromfile(CONFIG).model
    cfg.backbone.update(depth=18, init_cfg=None)
    cfg.neck.in_channels = [128, 256, 512]
    cfg.num_queries = Q
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def model():
    return _model()


def _inputs(model):
    """Memory (B, S, C), its padding mask (image 1 padded at the right
    and bottom of every level) and the levels' shapes."""
    generator = torch.Generator().manual_seed(1)
    memory = torch.randn(B, S, model.embed_dims, generator=generator)
    masks = []
    for h, w in SHAPES:
        mask = torch.zeros(B, h, w, dtype=torch.bool)
        mask[1, :, w - max(1, w // 4) :] = True
        mask[1, h - max(1, h // 4) :] = True
        masks.append(mask.flatten(1))
    return memory, torch.cat(masks, 1), torch.tensor(SHAPES)


def _run(model, pre_decoder, training):
    """Outputs of ``pre_decoder`` and, in training, the gradients of a
    random weighting of them."""
    model.train(training)
    model.zero_grad()
    memory, mask, shapes = _inputs(model)
    memory.requires_grad_(training)
    samples = det_samples([3, 2], 128, 160, num_classes=80)
    torch.manual_seed(2)  # the denoising queries' noise
    decoder_inputs, head_inputs = pre_decoder(
        model, memory, mask, shapes, samples
    )
    grads = {}
    if training:
        generator = torch.Generator().manual_seed(3)
        loss = sum(
            (t * torch.randn(t.shape, generator=generator)).sum()
            for t in (
                head_inputs['enc_outputs_class'],
                head_inputs['enc_outputs_coord'],
                decoder_inputs['query'],
            )
        )
        loss.backward()
        grads = {'memory': memory.grad}
        grads.update(
            (name, p.grad)
            for name, p in model.named_parameters()
            if p.grad is not None
        )
    return decoder_inputs, head_inputs, grads


@pytest.mark.parametrize('training', [True, False])
def test_the_same_queries_values_and_gradients_as_mmdet(model, training):
    ours = _run(model, type(model).pre_decoder, training)
    mmdet = _run(model, DINO.pre_decoder, training)
    for got, expected in zip(ours[:2], mmdet[:2]):
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            if key == 'dn_meta' or value is None:
                assert got[key] == value, key
            else:
                torch.testing.assert_close(
                    got[key], value, rtol=1e-5, atol=1e-6, msg=key
                )
    grads, expected = ours[2], mmdet[2]
    assert grads.keys() == expected.keys()
    if training:  # the projection, both branches, memory, query embedding
        layer = model.decoder.num_layers
        assert {
            'memory',
            'memory_trans_fc.weight',
            f'bbox_head.cls_branches.{layer}.weight',
            f'bbox_head.reg_branches.{layer}.layers.0.weight',
            'query_embedding.weight',
        } <= grads.keys()
    for name, grad in expected.items():  # sums in another order
        scale = float(grad.abs().max())
        torch.testing.assert_close(
            grads[name], grad, rtol=0, atol=1e-6 * scale, msg=name
        )


def test_training_keeps_no_full_size_activation(model):
    """mmdet keeps (B, S, C) activations for the backward pass of the
    projection and both branches; the kept rows are (B, Q, C)."""

    def largest_saved(pre_decoder):
        sizes = []

        def pack(tensor):
            sizes.append(tensor.numel())
            return tensor

        model.train()
        memory, mask, shapes = _inputs(model)
        memory.requires_grad_(True)
        samples = det_samples([3, 2], 128, 160, num_classes=80)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            pre_decoder(model, memory, mask, shapes, samples)
        return max(sizes)

    full = B * S * model.embed_dims
    assert largest_saved(DINO.pre_decoder) >= full
    assert largest_saved(type(model).pre_decoder) < full
