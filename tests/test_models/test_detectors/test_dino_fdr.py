"""DINO + FDR built from the configs in configs/dino_fdr (each inherits
mmdet's DINO config through ``mmdet::``), shrunk to ResNet-18 and 100
queries: losses with and without ground truth, gradients, predictions and
the build-time checks."""

import glob
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'dino_fdr', '*.py')))
HEIGHT, WIDTH = 128, 160
# FDR keys each ablation arm adds to DINO's losses
ARMS = {
    'dino-fdr_4scale_r50_8xb2-12e_coco.py': set(),
    'dino-fdr-fgl_4scale_r50_8xb2-12e_coco.py': {'loss_fgl'},
    'dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py': {'loss_fgl', 'loss_ddf'},
}


def _cfg(path):
    register_all_modules()
    cfg = Config.fromfile(path)
    model = cfg.model
    model.backbone.update(depth=18, init_cfg=None)
    model.neck.in_channels = [128, 256, 512]
    model.num_queries = 100
    return cfg


def _samples(counts):
    boxes = torch.tensor([[10.0, 20.0, 80.0, 90.0], [40, 30, 120, 110]])
    out = []
    for count in counts:
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(HEIGHT, WIDTH),
                pad_shape=(HEIGHT, WIDTH),
                batch_input_shape=(HEIGHT, WIDTH),
                ori_shape=(HEIGHT, WIDTH),
                scale_factor=(1.0, 1.0),
            )
        )
        sample.gt_instances = InstanceData(
            bboxes=boxes[:count], labels=torch.tensor([3, 7])[:count]
        )
        out.append(sample)
    return out


def test_every_arm_has_a_config():
    assert sorted(map(osp.basename, CONFIGS)) == sorted(ARMS)
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        assert cfg.model.type == 'DINOFDR'
        assert cfg.model.bbox_head.type == 'DINOFDRHead'
        # everything else is mmdet's DINO config
        assert cfg.model.encoder.num_layers == 6
        assert cfg.model.dn_cfg.group_cfg.num_dn_queries == 100


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_loss_and_predict(path):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(path).model)
    model.init_weights()
    model.train()
    images = torch.rand(2, 3, HEIGHT, WIDTH)
    losses = model.loss(images, _samples([2, 1]))
    keys = {k[3:] for k in losses if k.startswith('d0.loss_')}
    expected = {'loss_cls', 'loss_bbox', 'loss_iou'}
    expected |= ARMS[osp.basename(path)]
    assert keys == expected
    assert {'enc_loss_cls', 'pre_loss_bbox', 'dn_loss_bbox'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    head = model.bbox_head
    for index in range(model.decoder.num_layers):
        grad = head.reg_branches[index].layers[-1].weight.grad
        assert grad is not None and grad.abs().sum() > 0, index
    assert head.pre_reg_branch.layers[-1].weight.grad.abs().sum() > 0

    model.zero_grad()
    empty = model.loss(images, _samples([0, 0]))
    total = sum(v for k, v in empty.items() if 'loss' in k)
    assert torch.isfinite(total)
    for key in ('loss_bbox', 'loss_iou'):
        assert empty[key].item() == 0.0

    model.eval()
    with torch.no_grad():
        results = model.predict(images, _samples([0, 0]))
    pred = results[0].pred_instances
    assert pred.bboxes.shape == (300, 4)
    assert pred.scores.shape == (300,)
    assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()


def test_build_time_checks():
    base = CONFIGS[0]
    cfg = _cfg(base)
    cfg.model.bbox_head.reg_max = 16
    with pytest.raises(ValueError, match='reg_max'):
        MODELS.build(cfg.model)
    cfg = _cfg(base)
    cfg.model.bbox_head.type = 'DINOHead'
    for key in ('reg_max', 'eval_idx', 'loss_fgl', 'loss_ddf',
                'union_matching'):  # fmt: skip
        cfg.model.bbox_head.pop(key)
    with pytest.raises(ValueError, match='DINOFDRHead'):
        MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='with_box_refine=True'):
        MODELS.build(
            dict(type='DINOFDRHead', num_classes=3, share_pred_layer=True)
        )
