"""Make tests/data/deim/forward_s.pth with the original DEIM-D-FINE-S.

Usage (the DEIM source tree, Intellindust-AI-Lab/DEIM at 09d35d5)::

    python tests/data/deim/make_forward_fixture.py /path/to/DEIM

Builds the original model (``engine/backbone/hgnetv2.py``,
``engine/deim/hybrid_encoder.py``, ``engine/deim/dfine_decoder.py``) with
DEIM-D-FINE-S's settings (configs/deim_dfine/deim_hgnetv2_s_coco.yml:
B0 with learnable affine blocks, 3 decoder layers, ``activation`` and
``mlp_act`` SiLU, 80 classes) and no ``eval_spatial_size`` (anchors made
for the input), fills it with weights_recipe.py's weights (seed 0) and
keeps the constants it builds (``up``, ``reg_scale``,
``num_points_scale``). Saves those constants, the eval outputs
(``pred_logits`` (2, 300, 80), ``pred_boxes`` (2, 300, 4)) for two images
``torch.rand(2, 3, 320, 320)`` from ``torch.manual_seed(1)``, and the gap
between each image's 300th and 301st encoder score (query selection is
stable when it is large). Only the three modules and what they import are
loaded; ``register`` is a no-op stand-in and ``torchvision.ops.boxes``
an unused one (the package's top level needs torchvision and tensorboard,
which are not installed here).
"""

import importlib
import importlib.util
import os.path as osp
import sys
import types

import torch

HERE = osp.dirname(osp.abspath(__file__))


def load_original(root):
    """HGNetv2, HybridEncoder and DFINETransformer of the original."""
    engine = types.ModuleType('engine')
    engine.__path__ = [osp.join(root, 'engine')]
    core = types.ModuleType('engine.core')
    core.register = lambda *args, **kwargs: lambda cls: cls
    packages = {'engine': engine, 'engine.core': core}
    for name in ('backbone', 'deim'):
        package = types.ModuleType(f'engine.{name}')
        package.__path__ = [osp.join(root, 'engine', name)]
        packages[f'engine.{name}'] = package
    vision = types.ModuleType('torchvision')
    ops = types.ModuleType('torchvision.ops')
    boxes = types.ModuleType('torchvision.ops.boxes')
    boxes.box_area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    vision.ops, ops.boxes = ops, boxes
    packages.update({'torchvision': vision, 'torchvision.ops': ops,
                     'torchvision.ops.boxes': boxes})  # fmt: skip
    sys.modules.update(packages)
    hgnetv2 = importlib.import_module('engine.backbone.hgnetv2')
    encoder = importlib.import_module('engine.deim.hybrid_encoder')
    decoder = importlib.import_module('engine.deim.dfine_decoder')
    return hgnetv2.HGNetv2, encoder.HybridEncoder, decoder.DFINETransformer


def recipe():
    spec = importlib.util.spec_from_file_location(
        'weights_recipe', osp.join(HERE, 'weights_recipe.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Model(torch.nn.Module):
    """backbone -> encoder -> decoder, as the original's ``DEIM``."""

    def __init__(self, backbone, encoder, decoder):
        super().__init__()
        self.backbone, self.encoder, self.decoder = backbone, encoder, decoder

    def forward(self, images):
        return self.decoder(self.encoder(self.backbone(images)))


def main(root):
    hgnetv2_cls, encoder_cls, decoder_cls = load_original(root)
    torch.manual_seed(0)
    model = Model(
        hgnetv2_cls(name='B0', return_idx=[1, 2, 3], freeze_at=-1,
                    freeze_norm=False, use_lab=True, pretrained=False),
        encoder_cls(in_channels=[256, 512, 1024], feat_strides=[8, 16, 32],
                    hidden_dim=256, use_encoder_idx=[2],
                    num_encoder_layers=1, nhead=8, dim_feedforward=1024,
                    dropout=0.0, enc_act='gelu', expansion=0.5,
                    depth_mult=0.34, act='silu'),
        decoder_cls(num_classes=80, hidden_dim=256, num_queries=300,
                    feat_channels=[256, 256, 256], feat_strides=[8, 16, 32],
                    num_levels=3, num_points=[3, 6, 3], num_layers=3,
                    eval_idx=-1, num_denoising=100, reg_max=32, reg_scale=4,
                    layer_scale=1, cross_attn_method='default',
                    query_select_method='default', activation='silu',
                    mlp_act='silu'),
    )  # fmt: skip
    weights = recipe()
    state = model.state_dict()
    drawn = weights.perturbed_state_dict(seed=0)
    constants = {k: v for k, v in state.items() if k not in drawn}
    expected_keys = {
        key for key, _, _ in weights.official_s_shapes()
        if key.rsplit('.', 1)[-1] not in weights.SKIP
    }  # fmt: skip
    assert set(state) == expected_keys, set(state) ^ expected_keys
    model.load_state_dict({**constants, **drawn}, strict=True)
    model.eval()
    torch.manual_seed(1)
    images = torch.rand(2, 3, 320, 320)
    gaps = []
    select = model.decoder._select_topk

    def recording_select(memory, logits, anchors, topk):
        # the encoder score of every position: the gap at the top-k cut
        top = logits.max(-1).values.topk(topk + 1, dim=1).values
        gaps.append((top[:, topk - 1] - top[:, topk]).tolist())
        return select(memory, logits, anchors, topk)

    model.decoder._select_topk = recording_select
    with torch.no_grad():
        out = model(images)
    constants = {
        k: v for k, v in constants.items() if 'num_batches_tracked' not in k
    }
    torch.save(dict(constants=constants, pred_logits=out['pred_logits'],
                    pred_boxes=out['pred_boxes'], score_gap=gaps),
               osp.join(HERE, 'forward_s.pth'))  # fmt: skip
    print('constants:', sorted(constants), 'score gaps:', gaps)


if __name__ == '__main__':
    main(sys.argv[1])
