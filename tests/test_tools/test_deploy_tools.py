"""tools/deploy.py -> tools/test_deploy.py on the demo config, against
tools/test.py on the same weights and data: the same detections per image
and the same COCO metrics."""

import glob
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from helpers import (
    DEMO_CONFIG,
    REPO_ROOT,
    checkpoint_and_image,
    load_tool,
    tiny_train_options,
)

from dfine_mm.converters.dfine import VARIANT_CONFIGS
from dfine_mm.deploy.verify import (
    detection_differences,
    onnxruntime_detections,
    onnxruntime_session,
)
from dfine_mm.testing import synthetic_images

pytest.importorskip('onnxruntime')
pytest.importorskip('transformers')

pytestmark = pytest.mark.slow
STATIC = osp.join(
    REPO_ROOT, 'configs', 'deploy', 'detection_onnxruntime_static.py'
)


#: detections per image (``model.test_cfg.max_per_img`` of the tiny
#: options), all of them compared
MAX_PER_IMG = tiny_train_options('', '')['model.test_cfg.max_per_img']


def _data_options(data_root):
    ann = data_root + '/annotations/instances_val.json'
    return [
        f'test_dataloader.dataset.data_root={data_root}/',
        f'test_evaluator.ann_file={ann}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
    ]


def _as_arrays(results):
    """Per image: (dets (1, K, 5), labels (1, K)) sorted by score."""
    out = {}
    for result in results:
        pred = result['pred_instances']
        order = torch.as_tensor(pred['scores']).argsort(descending=True)
        boxes = torch.as_tensor(pred['bboxes'])[order]
        scores = torch.as_tensor(pred['scores'])[order, None]
        dets = torch.cat([boxes, scores], 1)[None].numpy()
        labels = torch.as_tensor(pred['labels'])[order][None].numpy()
        out[result['img_id']] = (dets, labels)
    return out


def test_deploy_then_evaluate(trained_demo, tmp_path):
    """On the briefly trained demo model (mAP@50 0.04-0.2 where random
    weights give 0, so the metrics compare real detections): every
    detection of every image."""
    config, checkpoint = trained_demo.config, trained_demo.checkpoint
    data_root = trained_demo.data_root
    image = sorted(glob.glob(osp.join(data_root, 'val', '*')))[0]
    work_dir = str(tmp_path / 'onnx')
    deploy = load_tool('deploy')
    assert (
        deploy.main(
            [STATIC, config, checkpoint, image, '--work-dir', work_dir]
        )
        == 0
    )
    onnx_file = osp.join(work_dir, 'end2end.onnx')
    assert osp.isfile(onnx_file)

    options = _data_options(data_root)
    test_deploy = load_tool('test_deploy')
    ort_pkl = str(tmp_path / 'ort.pkl')
    args = [
        STATIC,
        config,
        '--model',
        onnx_file,
        '--work-dir',
        str(tmp_path / 'ort'),
        '--out',
        ort_pkl,
        '--cfg-options',
        *options,
    ]
    ort_metrics = test_deploy.main(args)

    torch_pkl = str(tmp_path / 'torch.pkl')
    test = load_tool('test')
    torch_metrics = test.main(
        [
            config,
            checkpoint,
            '--work-dir',
            str(tmp_path / 'torch'),
            '--out',
            torch_pkl,
            '--cfg-options',
            *options,
        ]
    )
    with open(ort_pkl, 'rb') as file:
        ort_results = _as_arrays(pickle.load(file))
    with open(torch_pkl, 'rb') as file:
        torch_results = _as_arrays(pickle.load(file))
    assert sorted(ort_results) == sorted(torch_results)
    assert len(ort_results) == 8
    for img_id, reference in torch_results.items():
        count = reference[0].shape[1]
        assert count == MAX_PER_IMG == ort_results[img_id][0].shape[1]
        diff = detection_differences(reference, ort_results[img_id], count)
        assert diff['label_mismatches'] == 0, (img_id, diff)
        assert diff['score'] <= 1e-3, (img_id, diff)
        # boxes in image pixels (64 px images and input)
        assert diff['box'] <= 1e-2, (img_id, diff)
    assert torch_metrics['coco/bbox_mAP_50'] > 0  # not two zeros
    assert ort_metrics.keys() == torch_metrics.keys()
    for key, value in torch_metrics.items():
        assert np.isclose(ort_metrics[key], value, atol=1e-3), key


def test_batch_size_needs_a_dynamic_export(tmp_path):
    from dfine_mm.deploy.evaluate import evaluate_backend_model

    with pytest.raises(ValueError, match='dynamic batch axis'):
        evaluate_backend_model(
            STATIC, DEMO_CONFIG, ['x.onnx'], str(tmp_path), batch_size=4
        )


def test_deploy_cfg_options(tmp_path):
    """``tools/deploy.py --cfg-options`` reach the exported graph."""
    checkpoint, image = checkpoint_and_image(tmp_path, 'n', 64)
    config = osp.join(REPO_ROOT, 'configs', 'dfine', VARIANT_CONFIGS['n'])
    work_dir = str(tmp_path / 'onnx')
    argv = [STATIC, config, checkpoint, image, '--work-dir', work_dir]
    options = ['--cfg-options', 'model.test_cfg.max_per_img=7']
    assert load_tool('deploy').main(argv + options) == 0
    session = onnxruntime_session(osp.join(work_dir, 'end2end.onnx'), 2)
    dets, labels = onnxruntime_detections(
        session, synthetic_images(640, 640, 1)
    )
    assert dets.shape == (1, 7, 5) and labels.shape == (1, 7)
