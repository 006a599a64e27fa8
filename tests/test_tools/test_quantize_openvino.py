"""tools/deploy/quantize_openvino.py on an exported D-FINE-N IR: NNCF
calibrated on the model config's training images (here the synthetic set,
through ``--cfg-options``), the stem left unquantised, an INT8 IR that
runs."""

import os.path as osp

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, load_script
from mmengine.config import Config

from dfine_mm.converters.dfine import VARIANT_CONFIGS
from dfine_mm.datasets.synthetic import synthetic_classes
from dfine_mm.testing import conditioned_state_dict, synthetic_images

ov = pytest.importorskip('openvino')
pytest.importorskip('nncf')

pytestmark = pytest.mark.slow
DEPLOY_CFG = osp.join(
    REPO_ROOT, 'configs', 'deploy', 'detection_openvino_static-640x640.py'
)
MODEL_CFG = osp.join(REPO_ROOT, 'configs', 'dfine', VARIANT_CONFIGS['n'])


def _quantized_conv_names(xml):
    model = ov.Core().read_model(xml)
    return [
        op.get_friendly_name() for op in model.get_ops()
        if op.get_type_name() == 'Convolution'
        and any(i.get_source_output().get_node().get_type_name()
                == 'FakeQuantize' for i in op.inputs())
    ]  # fmt: skip


def test_int8_ir_from_the_tool(synthetic_coco, tmp_path):
    from dfine_mm.deploy import export_model

    checkpoint = str(tmp_path / 'n.pth')
    torch.save(dict(state_dict=conditioned_state_dict('n')), checkpoint)
    image = synthetic_images(640, 640, 1)[0].permute(1, 2, 0).numpy() * 255
    xml = export_model(
        Config.fromfile(DEPLOY_CFG), MODEL_CFG, checkpoint,
        image.astype(np.uint8), str(tmp_path / 'export'),
    )['xml']  # fmt: skip
    out = str(tmp_path / 'int8.xml')
    classes = synthetic_classes(5)
    tool = load_script('tools/deploy/quantize_openvino.py')
    argv = [DEPLOY_CFG, MODEL_CFG, '--model', xml, '--out', out,
            '--num-images', '2', '--cfg-options',
            f'train_dataloader.dataset.data_root={synthetic_coco}/',
            'train_dataloader.dataset.ann_file='
            'annotations/instances_train.json',
            'train_dataloader.dataset.data_prefix.img=train/',
            f'train_dataloader.dataset.metainfo.classes={classes!r}',
            ]  # fmt: skip
    assert tool.main(argv) == 0
    convs = [
        op.get_friendly_name() for op in ov.Core().read_model(out).get_ops()
        if op.get_type_name() == 'Convolution'
    ]  # fmt: skip
    quantized = _quantized_conv_names(out)
    stem = [n for n in convs if n.startswith('/backbone/stem/')]
    # 43 of N's 60 (NNCF's own rules skip a few, e.g. some before concats)
    assert len(quantized) > len(convs) // 2
    assert len(stem) == 5 and not set(stem) & set(quantized)
    assert _quantized_conv_names(xml) == []  # the fp32 IR is kept
    request = ov.Core().compile_model(out, 'CPU')
    dets = request({0: synthetic_images(640, 640, 1).numpy()})[0]
    assert dets.shape == (1, 300, 5) and np.isfinite(dets).all()
