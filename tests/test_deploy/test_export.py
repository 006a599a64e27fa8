"""Export D-FINE N and S (converted, well-conditioned random weights) with
every deploy config and compare the ONNX Runtime detections with PyTorch's
(the model mmdeploy exports, after ``switch_to_deploy()``)."""

import copy
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, MMEngineLogRecords
from mmengine.config import Config

from dfine_mm.converters.dfine import VARIANT_CONFIGS
from dfine_mm.deploy import export_model, onnx_domains
from dfine_mm.deploy.export import load_configs, task_processor
from dfine_mm.deploy.tensorrt import tensorrt_problems, tensorrt_version
from dfine_mm.deploy.verify import (
    detection_differences,
    onnxruntime_detections,
    onnxruntime_session,
    pytorch_detections,
)
from dfine_mm.testing import conditioned_state_dict, synthetic_images

pytest.importorskip('onnxruntime')
pytest.importorskip('transformers')
onnx = pytest.importorskip('onnx')

pytestmark = pytest.mark.slow
DEPLOY_DIR = osp.join(REPO_ROOT, 'configs', 'deploy')
SCORE_TOL, BOX_TOL = 1e-3, 1e-2  # box tolerance in pixels
HAS_TENSORRT = tensorrt_version() is not None and torch.cuda.is_available()


def _config(variant):
    return osp.join(REPO_ROOT, 'configs', 'dfine', VARIANT_CONFIGS[variant])


def _deploy_cfg(name):
    return Config.fromfile(osp.join(DEPLOY_DIR, name + '.py'))


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('image') / 'image.png')
    rgb = (synthetic_images(640, 640, 1)[0].permute(1, 2, 0) * 255).numpy()
    cv2.imwrite(path, rgb.astype(np.uint8)[..., ::-1])
    return path


@pytest.fixture(scope='module', params=['n', 's'])
def weights(request, tmp_path_factory):
    variant = request.param
    path = str(tmp_path_factory.mktemp('weights') / f'{variant}.pth')
    torch.save(dict(state_dict=conditioned_state_dict(variant)), path)
    return variant, path


def _export(deploy_name, variant, checkpoint, image_file, work_dir):
    deploy_cfg = _deploy_cfg(deploy_name)
    model_cfg = Config.fromfile(_config(variant))
    if 'tensorrt' in deploy_name and not HAS_TENSORRT:
        # the ONNX file is written, then the missing TensorRT is reported
        with pytest.raises(RuntimeError, match='TensorRT >= 10 is needed'):
            export_model(
                deploy_cfg, model_cfg, checkpoint, image_file, work_dir
            )
        onnx_path = osp.join(work_dir, 'end2end.onnx')
        assert osp.isfile(onnx_path)
    else:
        device = 'cuda:0' if 'tensorrt' in deploy_name else 'cpu'
        onnx_path = export_model(
            deploy_cfg, model_cfg, checkpoint, image_file, work_dir, device
        )['onnx']
    model = task_processor(deploy_cfg, model_cfg).build_pytorch_model(
        checkpoint
    )
    return onnx_path, model


def _check_parity(onnx_path, model, shapes):
    session = onnxruntime_session(onnx_path, num_threads=2)
    for batch, height, width in shapes:
        images = synthetic_images(height, width, batch)
        reference = pytorch_detections(model, images)
        dets, labels = onnxruntime_detections(session, images)
        assert dets.shape[:2] == reference[0].shape[:2] == (batch, 300)
        assert labels.shape == (batch, 300)
        diff = detection_differences(reference, (dets, labels), top_k=100)
        where = f'{batch}x{height}x{width}'
        assert diff['label_mismatches'] == 0, (where, diff)
        assert diff['score'] <= SCORE_TOL, (where, diff)
        assert diff['box'] <= BOX_TOL, (where, diff)


def test_onnxruntime_static(weights, image_file, tmp_path):
    variant, checkpoint = weights
    onnx_path, model = _export(
        'detection_onnxruntime_static',
        variant,
        checkpoint,
        image_file,
        str(tmp_path),
    )
    _check_parity(onnx_path, model, [(1, 640, 640)])
    # the backbone's folded ReLU + affine clamps export as Clip (fused into
    # the convolutions by ONNX Runtime), not as Max against a tensor
    _, ops = onnx_domains(onnx_path)
    assert ops[('', 'Max')] == 0
    assert ops[('', 'Clip')] >= 30
    # the neck's RepNCSPELAN4 blocks export their first convolution as two
    # (no Split, which ONNX Runtime runs outside its NCHWc layout)
    nodes = onnx.load(onnx_path, load_external_data=False).graph.node
    neck = [n.op_type for n in nodes if n.name.startswith('/neck/')]
    assert 'Split' not in neck and neck.count('Conv') > 20


def test_onnxruntime_dynamic(weights, image_file, tmp_path):
    variant, checkpoint = weights
    onnx_path, model = _export(
        'detection_onnxruntime_dynamic',
        variant,
        checkpoint,
        image_file,
        str(tmp_path),
    )
    shapes = [(1, 640, 640), (4, 640, 640), (1, 480, 800), (2, 480, 800)]
    if variant == 's':  # both axes change; every combination on N
        shapes = [(1, 640, 640), (2, 480, 800)]
    _check_parity(onnx_path, model, shapes)


@pytest.mark.parametrize(
    'deploy_name, batches',
    [
        ('detection_tensorrt_static-640x640', (1,)),
        ('detection_tensorrt-fp16_dynamic-batch-640x640', (1, 2)),
    ],
)
def test_tensorrt_config_onnx(
    deploy_name, batches, weights, image_file, tmp_path
):
    variant, checkpoint = weights
    if variant == 's':
        pytest.skip(
            'the TensorRT exports are checked on N (the same graph; S is '
            'exported and checked with the ONNX Runtime configs)'
        )
    onnx_path, model = _export(
        deploy_name, variant, checkpoint, image_file, str(tmp_path)
    )
    opset, ops = onnx_domains(onnx_path)
    assert opset == 17
    assert {domain for domain, _ in ops} == {''}
    assert ops[('', 'LayerNormalization')] > 0
    assert ops[('', 'GridSample')] > 0
    assert ops[('', 'ReduceMean')] <= 1  # no decomposed layer norms
    assert tensorrt_problems(onnx_path) == []
    _check_parity(onnx_path, model, [(b, 640, 640) for b in batches])


def test_checkpoint_of_another_variant(image_file, tmp_path):
    path = str(tmp_path / 's.pth')
    torch.save(dict(state_dict=conditioned_state_dict('s')), path)
    with pytest.raises(ValueError, match='cannot be deployed') as error:
        export_model(
            _deploy_cfg('detection_onnxruntime_static'),
            _config('n'),
            path,
            image_file,
            str(tmp_path),
        )
    assert 'shape mismatch' in str(error.value)
    assert not osp.exists(tmp_path / 'end2end.onnx')


def test_bad_opset_and_missing_files(image_file, tmp_path):
    deploy_cfg = _deploy_cfg('detection_onnxruntime_static')
    deploy_cfg.onnx_config.opset_version = 13
    with pytest.raises(ValueError, match='opset_version=13'):
        export_model(deploy_cfg, _config('n'), None, image_file, str(tmp_path))
    deploy_cfg.onnx_config.opset_version = 17
    with pytest.raises(FileNotFoundError, match='missing.png'):
        export_model(
            deploy_cfg,
            _config('n'),
            None,
            str(tmp_path / 'missing.png'),
            str(tmp_path),
        )
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        export_model(
            deploy_cfg,
            _config('n'),
            str(tmp_path / 'missing.pth'),
            image_file,
            str(tmp_path),
        )


def test_cfg_options_and_the_test_dataloader_pipeline():
    """``--cfg-options`` reach the model config; mmdeploy traces with the
    top-level ``test_pipeline``, which becomes the test dataloader's."""
    static = _deploy_cfg('detection_onnxruntime_static')
    model_cfg = Config.fromfile(_config('n'))
    original = copy.deepcopy(model_cfg.to_dict())
    options = {
        'model.test_cfg.max_per_img': 7,
        'test_dataloader.dataset.pipeline.1.scale': (320, 320),
    }
    with MMEngineLogRecords() as records:
        _, cfg = load_configs(static, model_cfg, options)
    assert cfg.model.test_cfg.max_per_img == 7
    assert cfg.test_pipeline[1].scale == (320, 320)
    assert cfg.test_pipeline == cfg.test_dataloader.dataset.pipeline
    assert any('test_pipeline differs' in m for m in records.messages)
    assert model_cfg.to_dict() == original  # the caller's config is kept

    # a config with the dataloader's pipeline only
    model_cfg.pop('test_pipeline')
    _, cfg = load_configs(static, model_cfg)
    assert cfg.test_pipeline == cfg.test_dataloader.dataset.pipeline
    assert 'test_pipeline' not in model_cfg

    # copies that differ only in the _scope_ inheriting from mmdet adds:
    # the config is used as it is, without a warning
    dino = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'dino_fdr',
                 'dino-fdr_4scale_r50_8xb2-12e_coco.py')
    )  # fmt: skip
    assert dino.test_pipeline != dino.test_dataloader.dataset.pipeline
    with MMEngineLogRecords() as records:
        assert load_configs(static, dino)[1] is dino
    assert not any('test_pipeline' in m for m in records.messages)
