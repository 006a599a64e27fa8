"""DEIM-D-FINE-S (D-FINE's model with DEIM's SiLU switches) against the
original DEIM code's forward pass.

tests/data/deim/forward_s.pth holds the original model's eval outputs for
weights drawn by tests/data/deim/weights_recipe.py (seed 0; the few
constants the original builds are stored with the outputs) and two random
320x320 images; see make_forward_fixture.py there. The weights go through
the project's converter into D-FINE-S built with
``decoder.act_cfg = decoder.mlp_act_cfg = dict(type='SiLU')``; after
pairing queries (docs/parity.md) every box and logit must agree within
1e-4.
"""

import importlib.util
import os.path as osp

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from scipy.optimize import linear_sum_assignment

from dfine_mm.converters.dfine import (
    convert_dfine_state_dict,
    variant_config_path,
)

DATA = osp.join(osp.dirname(__file__), '..', '..', 'data', 'deim')
SILU = dict(type='SiLU')


def recipe():
    spec = importlib.util.spec_from_file_location(
        'weights_recipe', osp.join(DATA, 'weights_recipe.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_silu_switches_give_the_original_deim_outputs():
    golden = torch.load(osp.join(DATA, 'forward_s.pth'), weights_only=True)
    assert min(min(g) for g in golden['score_gap']) > 1e-4
    official = dict(recipe().perturbed_state_dict(seed=0))
    official.update(golden['constants'])
    state_dict, source = convert_dfine_state_dict(official)
    assert source == 'official'
    register_all_modules()
    cfg = Config.fromfile(variant_config_path('s'))
    cfg.model.backbone.init_cfg = None
    cfg.model.decoder.update(act_cfg=SILU, mlp_act_cfg=SILU)
    model = MODELS.build(cfg.model).eval()
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    assert not unexpected
    assert all(k.endswith('num_batches_tracked') for k in missing), missing
    torch.manual_seed(1)
    images = torch.rand(2, 3, 320, 320)
    with torch.no_grad():
        logits, boxes = model(images, None, mode='tensor')
    for b in range(2):
        expected = torch.cat(
            [golden['pred_boxes'][b], golden['pred_logits'][b]], -1
        )
        got = torch.cat([boxes[-1, b], logits[-1, b]], -1)
        rows, cols = linear_sum_assignment(torch.cdist(expected, got).numpy())
        diff = (expected[rows] - got[cols]).abs().max().item()
        assert diff <= 1e-4, diff
    # the switches matter: D-FINE's ReLU model on the same weights differs
    cfg.model.decoder.update(act_cfg=None, mlp_act_cfg=None)
    relu = MODELS.build(Config.fromfile(variant_config_path('s')).model)
    relu.load_state_dict(state_dict, strict=False)
    with torch.no_grad():
        relu_logits, _ = relu.eval()(images, None, mode='tensor')
    assert not torch.allclose(relu_logits[-1], logits[-1], atol=1e-2)
