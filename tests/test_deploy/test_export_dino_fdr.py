"""DINO + FDR (configs/dino_fdr, shrunk to ResNet-18, 100 queries, 320 px)
through the deploy pipeline: standard ONNX only, ONNX Runtime detections
equal PyTorch's."""

import copy
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from dfine_mm.deploy import export_model, onnx_domains
from dfine_mm.deploy.export import task_processor
from dfine_mm.deploy.verify import (
    detection_differences,
    onnxruntime_detections,
    onnxruntime_session,
    pytorch_detections,
)
from dfine_mm.testing import synthetic_images

pytest.importorskip('onnxruntime')
pytestmark = pytest.mark.slow
SIZE = 320


def _model_cfg():
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'dino_fdr',
                 'dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py')
    )  # fmt: skip
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.neck.in_channels = [128, 256, 512]
    cfg.model.num_queries = 100
    return cfg


def test_dino_fdr_onnxruntime(tmp_path):
    cfg = _model_cfg()
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    with torch.no_grad():  # the distribution branches start at zero
        for branch in model.bbox_head.reg_branches[:6]:
            branch.layers[-1].weight.normal_(0, 0.02)
    checkpoint = str(tmp_path / 'dino_fdr.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    image = str(tmp_path / 'image.png')
    rgb = synthetic_images(SIZE, SIZE, 1)[0].permute(1, 2, 0).numpy()
    cv2.imwrite(image, (rgb * 255).astype(np.uint8)[..., ::-1])
    deploy_cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'deploy',
                 'detection_onnxruntime_static.py')
    )  # fmt: skip
    deploy_cfg.onnx_config.input_shape = [SIZE, SIZE]
    onnx_path = export_model(
        deploy_cfg, cfg, checkpoint, image, str(tmp_path / 'onnx')
    )['onnx']
    opset, ops = onnx_domains(onnx_path)
    assert opset == 17 and {d for d, _ in ops} == {''}
    assert ops[('', 'GridSample')] > 0
    reference_model = task_processor(deploy_cfg, cfg).build_pytorch_model(
        checkpoint
    )
    images = synthetic_images(SIZE, SIZE, 1)
    reference = pytorch_detections(reference_model, images)
    dets, labels = onnxruntime_detections(
        onnxruntime_session(onnx_path, 2), images
    )
    assert dets.shape == (1, 300, 5)
    diff = detection_differences(reference, (dets, labels))
    assert diff['label_mismatches'] == 0, diff
    assert diff['score'] <= 1e-3 and diff['box'] <= 1e-2, diff
