"""A DEIM-D-FINE config through ``tools/deploy.py``: the ONNX Runtime
detections equal PyTorch's (DEIM-N with D-FINE-N's conditioned weights:
the same layout; DEIM's SiLU decoder is what differs from D-FINE)."""

import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, checkpoint_and_image, load_tool

from dfine_mm.deploy.export import load_configs, task_processor
from dfine_mm.deploy.verify import (
    detection_differences,
    onnxruntime_detections,
    onnxruntime_session,
    pytorch_detections,
)
from dfine_mm.testing import synthetic_images

pytest.importorskip('onnxruntime')

pytestmark = pytest.mark.slow
CONFIG = osp.join(
    REPO_ROOT, 'projects', 'DEIM', 'configs',
    'deim-dfine-n_hgnetv2-b0_4xb32-160e_coco.py',
)  # fmt: skip
STATIC = osp.join(
    REPO_ROOT, 'configs', 'deploy', 'detection_onnxruntime_static.py'
)


def test_deim_exports_and_matches_pytorch(tmp_path):
    checkpoint, image = checkpoint_and_image(tmp_path, 'n', 640)
    work_dir = str(tmp_path / 'onnx')
    deploy = load_tool('deploy')
    argv = [STATIC, CONFIG, checkpoint, image, '--work-dir', work_dir]
    assert deploy.main(argv) == 0

    model = task_processor(*load_configs(STATIC, CONFIG)).build_pytorch_model(
        checkpoint
    )
    # the head and decoder run DEIM's SiLU (D-FINE's: ReLU)
    assert any(
        isinstance(module, torch.nn.SiLU)
        for name, module in model.named_modules()
        if name.startswith(('bbox_head.', 'decoder.'))
    )
    session = onnxruntime_session(osp.join(work_dir, 'end2end.onnx'), 2)
    images = synthetic_images(640, 640, 1)
    diff = detection_differences(
        pytorch_detections(model, images),
        onnxruntime_detections(session, images),
        top_k=100,
    )
    assert diff['label_mismatches'] == 0, diff
    assert diff['score'] <= 1e-3 and diff['box'] <= 1e-2, diff
