"""OpenVINO: D-FINE-N (converted, well-conditioned random weights) exported
with the static and the dynamic OpenVINO deploy config, run through
mmdeploy's backend manager (dfine_mm's, on OpenVINO's current API) in fp32
and compared with PyTorch (D-FINE-S passes too: docs/deploy.md; left out
for time); a missing OpenVINO and a static IR of another size are errors
that say what to do."""

# ruff: noqa: F811  (the fixtures imported from test_export are arguments)

import os.path as osp

import pytest
import torch
from mmengine.config import Config
from test_export import (
    BOX_TOL,
    SCORE_TOL,
    _config,
    _deploy_cfg,
    _export,
    image_file,  # noqa: F401  (fixture)
)

from dfine_mm.deploy import export_model
from dfine_mm.deploy.openvino import runtime
from dfine_mm.deploy.verify import detection_differences, pytorch_detections
from dfine_mm.testing import conditioned_state_dict, synthetic_images

pytest.importorskip('openvino')
pytestmark = pytest.mark.slow


def _wrapper(xml, deploy_name):
    from mmdeploy.backend.base import get_backend_manager

    manager = get_backend_manager('openvino')
    return manager.build_wrapper(
        [xml], output_names=['dets', 'labels'],
        deploy_cfg=_deploy_cfg(deploy_name),
    )  # fmt: skip


def _check_parity(wrapper, model, shapes):
    for batch, height, width in shapes:
        images = synthetic_images(height, width, batch)
        reference = pytorch_detections(model, images)
        out = wrapper(dict(input=images))
        dets, labels = out['dets'].numpy(), out['labels'].numpy()
        assert dets.shape[:2] == reference[0].shape[:2] == (batch, 300)
        diff = detection_differences(reference, (dets, labels), top_k=100)
        where = f'{batch}x{height}x{width}'
        assert diff['label_mismatches'] == 0, (where, diff)
        assert diff['score'] <= SCORE_TOL, (where, diff)
        assert diff['box'] <= BOX_TOL, (where, diff)


@pytest.mark.parametrize(
    'variant, deploy_name, shapes',
    [
        ('n', 'detection_openvino_static-640x640', [(1, 640, 640)]),
        ('n', 'detection_openvino_dynamic',
         [(1, 640, 640), (4, 640, 640), (1, 480, 800), (4, 480, 800)]),
    ],
)  # fmt: skip
def test_openvino_fp32_matches_pytorch(
    variant, deploy_name, shapes, image_file, tmp_path
):
    checkpoint = str(tmp_path / f'{variant}.pth')
    torch.save(dict(state_dict=conditioned_state_dict(variant)), checkpoint)
    work_dir = str(tmp_path / 'export')
    onnx_path, model = _export(
        deploy_name, variant, checkpoint, image_file, work_dir
    )
    xml = osp.join(work_dir, 'end2end.xml')
    assert osp.isfile(xml) and osp.isfile(xml[:-4] + '.bin')
    wrapper = _wrapper(xml, deploy_name)
    assert wrapper.config['INFERENCE_PRECISION_HINT'] == 'f32'
    _check_parity(wrapper, model, shapes)
    if deploy_name.endswith('640x640'):
        # an IR of another size than a static config's: both named
        cfg = _deploy_cfg(deploy_name)
        cfg.backend_config.model_inputs[0].opt_shapes.input = [1, 3, 320, 320]
        from dfine_mm.deploy.openvino.wrapper import OpenVINORuntimeWrapper

        with pytest.raises(ValueError, match=r'\[1, 3, 640, 640\].*'
                           r'\[1, 3, 320, 320\]'):  # fmt: skip
            OpenVINORuntimeWrapper(xml, deploy_cfg=cfg)


def test_missing_openvino_writes_onnx_then_names_the_package(
    image_file, tmp_path, monkeypatch
):
    """The export's order: the ONNX file first, then the error (a stand-in
    graph instead of the traced model, for time)."""
    import onnx
    from onnx import TensorProto, helper

    from dfine_mm.deploy import export

    def write_onnx(img, onnx_path, *args):
        value = helper.make_tensor_value_info('input', TensorProto.FLOAT, [1])
        graph = helper.make_graph(
            [helper.make_node('Identity', ['input'], ['dets'])], 'g',
            [value], [helper.make_tensor_value_info(
                'dets', TensorProto.FLOAT, [1])],
        )  # fmt: skip
        onnx.save(helper.make_model(graph), onnx_path)

    monkeypatch.setattr(export, 'torch_to_onnx', write_onnx)
    monkeypatch.setattr(runtime, 'openvino_version', lambda: None)
    with pytest.raises(RuntimeError, match=r"pip install 'openvino"):
        export_model(
            _deploy_cfg('detection_openvino_static-640x640'),
            Config.fromfile(_config('n')), None, image_file, str(tmp_path),
        )  # fmt: skip
    assert osp.isfile(tmp_path / 'end2end.onnx')
    assert not osp.isfile(tmp_path / 'end2end.xml')


def test_precision_settings():
    assert runtime.compile_config({})['INFERENCE_PRECISION_HINT'] == 'f32'
    assert 'INFERENCE_PRECISION_HINT' not in runtime.compile_config(
        dict(precision='default')
    )
    assert runtime.compile_config(dict(num_threads=2))[
        'INFERENCE_NUM_THREADS'] == 2  # fmt: skip
    with pytest.raises(ValueError, match='precision must be one of'):
        runtime.compile_config(dict(precision='int4'))


def test_low_precision_config_and_the_precision_tool(image_file, tmp_path):
    """The low-precision config's export marks its fp32 modules in the IR,
    the CPU keeps them fp32 in its own (bf16) precision, and
    ``openvino_precision.py`` measures a module alone and kept."""
    import json

    from helpers import load_script

    from dfine_mm.deploy.openvino.precision import fp32_layers

    name = 'detection_openvino-lowp_static-640x640'
    cfg = _deploy_cfg(name)
    assert cfg.backend_config.precision == 'default'
    assert cfg.backend_config.fp32_modules == []  # measured: none pays
    cfg.backend_config.fp32_modules = ['/neck/fpn_blocks']
    checkpoint = str(tmp_path / 'n.pth')
    torch.save(dict(state_dict=conditioned_state_dict('n')), checkpoint)
    outputs = export_model(
        cfg, Config.fromfile(_config('n')), checkpoint, image_file,
        str(tmp_path / 'export'),
    )  # fmt: skip
    kept = fp32_layers(outputs['xml'])
    assert len(kept) > 10
    assert all(n.startswith('/neck/fpn_blocks') for n in kept), kept
    from mmdeploy.backend.base import get_backend_manager

    wrapper = get_backend_manager('openvino').build_wrapper(
        [outputs['xml']], output_names=['dets', 'labels'], deploy_cfg=cfg
    )
    assert 'INFERENCE_PRECISION_HINT' not in wrapper.config
    out = wrapper(dict(input=synthetic_images(640, 640, 1)))
    assert out['dets'].shape == (1, 300, 5)
    assert torch.isfinite(out['dets']).all()
    precisions = {}
    for op in wrapper.compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info['layerType'].astype(str) == 'Convolution':
            first = info['originalLayersNames'].astype(str).split(',')[0]
            where = 'fpn' if first.startswith('/neck/fpn_blocks') else 'rest'
            precisions.setdefault(where, set()).add(
                info['runtimePrecision'].astype(str)
            )
    assert precisions['fpn'] == {'f32'}, precisions
    import openvino as ov

    if 'BF16' in ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES'):
        assert 'bf16' in precisions['rest'], precisions

    tool = load_script('tools/analysis_tools/openvino_precision.py')
    report = str(tmp_path / 'precision.json')
    assert tool.main([
        outputs['xml'], image_file, '--modules', '/neck/fpn_blocks',
        '--score-thr', '0.05', '--out', report,
    ]) == 0  # fmt: skip
    with open(report) as file:
        results = json.load(file)
    module = results['modules']['/neck/fpn_blocks']
    assert module['layers'] > 5
    assert module['alone']['count'] == results['low']['count'] > 0
    with pytest.raises(ValueError, match='needs --model-cfg'):
        tool.main([outputs['xml'], image_file, '--precision', 'int8'])
