"""DINO + FDR and Deformable-DETR + FDR built from the configs in
configs/dino_fdr and configs/deformable_detr_fdr (each inherits mmdet's
config through ``mmdet::``), shrunk to ResNet-18 and 100 queries: losses
with and without ground truth, gradients, predictions, deploy mode and the
build-time checks."""

import glob
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, det_samples
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.hub import get_config

HEIGHT, WIDTH = 128, 160
# per config folder: detector, head, mmdet's base, keys beyond d0.loss_*
DETECTORS = {
    'dino_fdr': ('FDRDINO', 'FDRDINOHead', 'dino-4scale_r50_8xb2-12e',
                 {'enc_loss_cls', 'pre_loss_bbox', 'dn_loss_bbox',
                  'd0.dn_loss_iou', 'dn_pre_loss_cls'}),
    'deformable_detr_fdr': (
        'FDRDeformableDETR', 'FDRDeformableDETRHead',
        'deformable-detr-refine-twostage_r50_16xb2-50e',
        {'enc_loss_cls', 'enc_loss_bbox', 'enc_loss_iou', 'pre_loss_bbox'}),
}  # fmt: skip
# FDR keys each ablation arm adds to the detector's own losses
ARMS = {'fdr': set(), 'fdr-fgl': {'loss_fgl'},
        'fdr-golsd': {'loss_fgl', 'loss_ddf'}}  # fmt: skip
CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', '*_fdr', '*.py'))
)  # fmt: skip


def _folder(path):
    return osp.basename(osp.dirname(path))


def _arm(path):
    name = osp.basename(path)
    return max((arm for arm in ARMS if f'-{arm}_' in name or
                f'-{arm}-' in name), key=len)  # fmt: skip


def _cfg(path, **decoder):
    register_all_modules()
    cfg = Config.fromfile(path)
    model = cfg.model
    model.backbone.update(depth=18, init_cfg=None)
    model.neck.in_channels = [128, 256, 512]
    model.num_queries = 100
    model.decoder.update(decoder)
    model.bbox_head.update(decoder)
    return cfg


def test_every_arm_has_a_config():
    found = sorted((_folder(p), _arm(p)) for p in CONFIGS)
    assert found == sorted((f, a) for f in DETECTORS for a in ARMS)
    for path in CONFIGS:
        detector, head, base, _ = DETECTORS[_folder(path)]
        cfg = Config.fromfile(path)
        assert cfg.model.type == detector
        assert cfg.model.bbox_head.type == head
        # everything else is mmdet's config
        mmdet_path = f'mmdet::{_folder(path)[:-4]}/{base}_coco.py'
        mmdet_cfg = get_config(mmdet_path)
        for key in ('encoder', 'num_queries', 'train_cfg', 'backbone'):
            assert cfg.model[key] == mmdet_cfg.model[key], key
        decoder = mmdet_cfg.model.decoder
        assert cfg.model.decoder.layer_cfg == decoder.layer_cfg
        for key in ('optimizer', 'paramwise_cfg', 'clip_grad'):
            assert cfg.optim_wrapper[key] == mmdet_cfg.optim_wrapper[key]


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_loss_and_predict(path):
    torch.manual_seed(0)
    cfg = _cfg(path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    images = torch.rand(2, 3, HEIGHT, WIDTH)
    samples = det_samples([2, 1], HEIGHT, WIDTH, num_classes=80)
    losses = model.loss(images, samples)
    keys = {k[3:] for k in losses if k.startswith('d0.loss_')}
    assert keys == {'loss_cls', 'loss_bbox', 'loss_iou'} | ARMS[_arm(path)]
    assert DETECTORS[_folder(path)][3] <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    head = model.bbox_head
    for index in range(model.decoder.num_layers):
        grad = head.reg_branches[index].layers[-1].weight.grad
        assert grad is not None and grad.abs().sum() > 0, index
    assert head.pre_reg_branch.layers[-1].weight.grad.abs().sum() > 0

    model.zero_grad()
    empty = model.loss(images, det_samples([0, 0], HEIGHT, WIDTH))
    total = sum(v for k, v in empty.items() if 'loss' in k)
    assert torch.isfinite(total)
    for key in ('loss_bbox', 'loss_iou', 'enc_loss_bbox'):
        assert empty[key].item() == 0.0

    model.eval()
    with torch.no_grad():
        results = model.predict(images, det_samples([0, 0], HEIGHT, WIDTH))
    pred = results[0].pred_instances
    top = cfg.model.test_cfg.max_per_img
    assert pred.bboxes.shape == (top, 4)
    assert pred.scores.shape == (top,)
    assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()


@pytest.mark.parametrize('folder', DETECTORS)
def test_deploy_mode_with_an_earlier_eval_layer(folder):
    """``switch_to_deploy`` drops the layers after eval_idx and leaves a
    consistent model: ``num_layers`` is 4 for the decoder and the head, and
    the query-selection branches move to index 4 of the head's lists."""
    path = next(p for p in CONFIGS if _folder(p) == folder)
    torch.manual_seed(0)
    model = MODELS.build(_cfg(path, eval_idx=-3).model)
    model.init_weights()
    for param in model.bbox_head.parameters():  # non-trivial branches
        param.data.normal_(0, 0.02)
    model.eval()
    images = torch.rand(1, 3, HEIGHT, WIDTH)
    head = model.bbox_head
    selection = head.cls_branches[6], head.reg_branches[6]
    with torch.no_grad():
        before = model.predict(images, det_samples([0], HEIGHT, WIDTH))
        model.switch_to_deploy()
        after = model.predict(images, det_samples([0], HEIGHT, WIDTH))
    assert len(model.decoder.layers) == model.decoder.num_layers == 4
    assert head.num_layers == 4 and len(head.cls_branches) == 5
    assert (head.cls_branches[4], head.reg_branches[4]) == selection
    before, after = before[0].pred_instances, after[0].pred_instances
    torch.testing.assert_close(after.scores, before.scores)
    torch.testing.assert_close(after.bboxes, before.bboxes)


def test_proposal_loss_is_class_agnostic():
    path = next(p for p in CONFIGS if _folder(p) == 'deformable_detr_fdr')
    head = MODELS.build(_cfg(path).model).bbox_head
    scores = torch.randn(2, 50, 80)
    boxes = torch.rand(2, 50, 4) * 0.5 + 0.2
    samples = det_samples([3, 2], HEIGHT, WIDTH, num_classes=80)
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]
    first = head.proposal_loss(scores, boxes, gts, metas)
    for gt in gts:
        gt.labels = (gt.labels + 7) % 80
    second = head.proposal_loss(scores, boxes, gts, metas)
    assert set(first) == {'enc_loss_cls', 'enc_loss_bbox', 'enc_loss_iou'}
    for key, value in first.items():
        assert value > 0
        torch.testing.assert_close(second[key], value)
    # proposals exactly on the ground truth, every logit low: scoring their
    # column 0 up lowers the loss, any other column raises it
    scores = torch.full((2, 50, 80), -8.0)
    for image, gt in enumerate(gts):
        xyxy = gt.bboxes / torch.tensor([WIDTH, HEIGHT, WIDTH, HEIGHT])
        boxes[image, : len(gt)] = torch.cat(
            [(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1
        )
    low = head.proposal_loss(scores, boxes, gts, metas)['enc_loss_cls']
    for column, lower in ((0, True), (5, False)):
        raised = scores.clone()
        raised[0, :3, column] = raised[1, :2, column] = 8.0
        loss = head.proposal_loss(raised, boxes, gts, metas)['enc_loss_cls']
        assert (loss < low) == lower, column


@pytest.mark.parametrize('folder', DETECTORS)
def test_build_time_checks(folder):
    detector, head, _, _ = DETECTORS[folder]
    path = next(p for p in CONFIGS if _folder(p) == folder)
    cfg = _cfg(path)
    cfg.model.bbox_head.reg_max = 16
    with pytest.raises(ValueError, match='reg_max'):
        MODELS.build(cfg.model)
    cfg = _cfg(path)
    cfg.model.bbox_head.type = head.replace('FDR', '')
    for key in ('reg_max', 'eval_idx', 'loss_fgl', 'loss_ddf',
                'union_matching'):  # fmt: skip
        cfg.model.bbox_head.pop(key)
    with pytest.raises(ValueError, match=head):
        MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='with_box_refine=True'):
        MODELS.build(dict(type=head, num_classes=3, share_pred_layer=True))
    if folder == 'deformable_detr_fdr':
        for flags in (dict(as_two_stage=False), dict(with_box_refine=False)):
            cfg = _cfg(path)
            cfg.model.update(flags)
            with pytest.raises(ValueError, match='as_two_stage=True'):
                MODELS.build(cfg.model)


def test_old_names_still_build():
    """Configs and checkpoints written before the FDR classes were renamed
    (mmdet's variant-first order) keep working."""
    old_to_new = dict(
        DINOFDR='FDRDINO',
        DINOFDRHead='FDRDINOHead',
        DeformableDETRFDR='FDRDeformableDETR',
        DeformableDETRFDRHead='FDRDeformableDETRHead',
    )
    for old, new in old_to_new.items():
        assert MODELS.get(old) is MODELS.get(new) is not None
    path = next(p for p in CONFIGS if _folder(p) == 'dino_fdr')
    new = MODELS.build(_cfg(path).model)
    cfg = _cfg(path)  # (mmdet's DINO changes its dn_cfg while building)
    cfg.model.type, cfg.model.bbox_head.type = 'DINOFDR', 'DINOFDRHead'
    old = MODELS.build(cfg.model)
    old.load_state_dict(new.state_dict(), strict=True)
