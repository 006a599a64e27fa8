"""DEIM's activation switches on D-FINE: ``decoder.act_cfg`` (decoder FFNs,
the head's LQEs) and ``decoder.mlp_act_cfg`` (query-position MLP, the head's
box MLPs), the same state-dict layout."""

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from torch import nn

from dfine_mm.converters.dfine import variant_config_path
from dfine_mm.models.layers.dfine_mlp import DFineMLP

SILU = dict(type='SiLU')


def build(**decoder):
    register_all_modules()
    cfg = Config.fromfile(variant_config_path('n'))
    cfg.model.backbone.init_cfg = None
    cfg.model.decoder.update(decoder)
    return MODELS.build(cfg.model)


def test_silu_everywhere_deim_sets_it():
    relu, silu = build(), build(act_cfg=SILU, mlp_act_cfg=SILU)
    assert set(relu.state_dict()) == set(silu.state_dict())
    head = silu.bbox_head
    assert all(isinstance(layer.activation, nn.SiLU)
               for layer in silu.decoder.layers)  # fmt: skip
    mlps = [silu.decoder.query_pos_head, head.pre_reg_branch,
            head.enc_reg_branch, *head.reg_branches]  # fmt: skip
    lqe = [lqe.reg_conf for lqe in head.lqe_layers]
    for mlp in mlps + lqe:
        assert isinstance(mlp, DFineMLP) and isinstance(mlp.act, nn.SiLU)
    assert all(isinstance(layer.activation, nn.ReLU)
               for layer in relu.decoder.layers)  # fmt: skip
    assert isinstance(relu.bbox_head.pre_reg_branch.act, nn.ReLU)
    # the switch changes the outputs of the same weights
    silu.load_state_dict(relu.state_dict(), strict=True)
    for model in (relu, silu):
        model.eval()
        for param in model.bbox_head.parameters():
            torch.manual_seed(0)
            param.data.normal_(0, 0.05)
    images = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        a = relu._forward(images)
        b = silu._forward(images)
    assert not torch.allclose(a[0], b[0])


def test_a_conflicting_head_activation_is_an_error():
    register_all_modules()
    cfg = Config.fromfile(variant_config_path('n'))
    cfg.model.backbone.init_cfg = None
    cfg.model.decoder.mlp_act_cfg = SILU
    cfg.model.bbox_head.mlp_act_cfg = dict(type='ReLU')
    with pytest.raises(ValueError, match='mlp_act_cfg'):
        MODELS.build(cfg.model)
