"""OpenVINO precision by module: fp32 marks the CPU plugin honours in its
bf16 mode, explicit low precision of one module (measurement), and NNCF
INT8 with modules left out, on a two-convolution graph named like
dfine_mm's exports; calibration images from a model config's data."""

import os.path as osp

import numpy as np
import pytest
from helpers import DEMO_CONFIG, MMEngineLogRecords
from mmengine.config import Config

ov = pytest.importorskip('openvino')

from dfine_mm.deploy.openvino.precision import (  # noqa: E402
    fp32_layers,
    keep_fp32,
    lower_precision,
    module_prefixes,
)


def _has_bf16() -> bool:
    caps = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    return 'BF16' in caps


needs_bf16 = pytest.mark.skipif(
    not _has_bf16(), reason='the CPU has no bf16 kernels'
)


def _two_convs(path: str) -> str:
    """input (1, 3, 32, 32) -> /a/conv -> relu -> /b/conv -> output."""
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 32, 32], np.float32, name='input')
    a = ops.convolution(
        x, ops.constant(rng.normal(size=(16, 3, 3, 3)).astype(np.float32)),
        [1, 1], [1, 1], [1, 1], [1, 1],
    )  # fmt: skip
    a.set_friendly_name('/a/conv/Conv')
    relu = ops.relu(a)
    relu.set_friendly_name('/a/act/Relu')
    b = ops.convolution(
        relu, ops.constant(rng.normal(size=(8, 16, 3, 3)).astype(np.float32)),
        [1, 1], [1, 1], [1, 1], [1, 1],
    )  # fmt: skip
    b.set_friendly_name('/b/conv/Conv')
    model = ov.Model([ops.result(b)], [x], 'two_convs')
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def _runtime_precisions(model, hint: str) -> dict:
    """Layer name -> runtime precision of the compiled convolutions."""
    compiled = ov.Core().compile_model(
        model, 'CPU', {'INFERENCE_PRECISION_HINT': hint}
    )
    precisions = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info['layerType'].astype(str) == 'Convolution':
            names = info['originalLayersNames'].astype(str)
            conv = next(n for n in names.split(',') if n.endswith('Conv'))
            precisions[conv] = info['runtimePrecision'].astype(str)
    return precisions


def _input(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((1, 3, 32, 32), dtype=np.float32)


@needs_bf16
def test_kept_module_stays_fp32_in_the_cpus_bf16_mode(tmp_path):
    xml = _two_convs(str(tmp_path / 'm.xml'))
    core = ov.Core()
    plain = _runtime_precisions(core.read_model(xml), 'bf16')
    assert plain == {'/a/conv/Conv': 'bf16', '/b/conv/Conv': 'bf16'}

    marked = str(tmp_path / 'kept.xml')
    assert keep_fp32(xml, ['/a/'], marked) == 2  # the conv and its relu
    assert osp.isfile(marked[:-4] + '.bin')
    assert sorted(fp32_layers(marked)) == ['/a/act/Relu', '/a/conv/Conv']
    assert fp32_layers(xml) == []  # the source IR is left alone
    kept = _runtime_precisions(core.read_model(marked), 'bf16')
    assert kept == {'/a/conv/Conv': 'f32', '/b/conv/Conv': 'bf16'}


def test_keep_fp32_names_the_modules_that_exist(tmp_path):
    xml = _two_convs(str(tmp_path / 'm.xml'))
    with pytest.raises(ValueError, match=r"\['/neck'\].*'/a/conv'"):
        keep_fp32(xml, ['/a', '/neck'])
    with pytest.raises(ValueError, match='list of layer-name prefixes'):
        keep_fp32(xml, '/a')


@needs_bf16
def test_lower_precision_runs_one_module_in_bf16(tmp_path):
    xml = _two_convs(str(tmp_path / 'm.xml'))
    core = ov.Core()
    model = core.read_model(xml)
    assert module_prefixes(model, depth=2) == ['/a', '/b']
    assert lower_precision(model, ['/b']) == 1
    assert _runtime_precisions(model, 'f32') == {
        '/a/conv/Conv': 'f32', '/b/conv/Conv': 'bf16',
    }  # fmt: skip
    x = _input()
    fp32 = {'INFERENCE_PRECISION_HINT': 'f32'}
    reference = core.compile_model(xml, 'CPU', fp32)({0: x})[0]
    lowered = core.compile_model(model, 'CPU', fp32)({0: x})[0]
    error = np.abs(lowered - reference).max() / np.abs(reference).max()
    assert 1e-5 < error < 3e-2  # bf16 rounding, not fp32, not garbage
    with pytest.raises(ValueError, match="'/c'"):
        lower_precision(core.read_model(xml), ['/c'])


def test_int8_quantises_all_but_the_ignored_modules(tmp_path):
    pytest.importorskip('nncf')
    from dfine_mm.deploy.openvino.quantize import quantize_ir

    xml = _two_convs(str(tmp_path / 'm.xml'))
    inputs = [_input(seed) for seed in range(4)]

    def quantized_convs(out, **kwargs):
        quantize_ir(xml, str(tmp_path / out), inputs, **kwargs)
        model = ov.Core().read_model(str(tmp_path / out))
        return sorted(
            op.get_friendly_name() for op in model.get_ops()
            if op.get_type_name() == 'Convolution'
            and any(i.get_source_output().get_node().get_type_name()
                    == 'FakeQuantize' for i in op.inputs())
        )  # fmt: skip

    assert quantized_convs('all.xml') == ['/a/conv/Conv', '/b/conv/Conv']
    assert quantized_convs('ign.xml', ignored_modules=['/b']) == [
        '/a/conv/Conv'
    ]
    assert quantized_convs('only.xml', only_modules=['/b']) == ['/b/conv/Conv']
    with pytest.raises(
        ValueError, match=r'\[1, 3, 32, 32\].*\[1, 3, 64, 64\]'
    ):
        quantize_ir(xml, str(tmp_path / 'x.xml'), [np.zeros((1, 3, 64, 64))])
    with pytest.raises(ValueError, match="'/neck'"):
        quantize_ir(xml, str(tmp_path / 'x.xml'), inputs, ['/neck'])


def test_calibration_uses_the_test_pipeline_and_warns_when_short(
    synthetic_coco,
):
    from dfine_mm.deploy.openvino.quantize import calibration_inputs

    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.train_dataloader.dataset.data_root = synthetic_coco + '/'
    with MMEngineLogRecords() as records:
        inputs = calibration_inputs(cfg, 30)
    assert len(inputs) == 24  # the fixture's training set
    assert any(
        '30 images asked' in m and 'calibrating on 24' in m
        for m in records.messages
    ), records.messages
    assert all(x.shape == (1, 3, 256, 256) for x in inputs)  # test resize
    assert 0.0 <= min(x.min() for x in inputs) < max(x.max() for x in inputs)
    assert max(x.max() for x in inputs) <= 1.0  # RGB / 255
    assert len(calibration_inputs(cfg, 3)) == 3
    with pytest.raises(ValueError, match='num_images must be >= 1'):
        calibration_inputs(cfg, 0)


def test_missing_nncf_names_the_package(monkeypatch, tmp_path):
    import importlib.util

    from dfine_mm.deploy.openvino.quantize import quantize_ir

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec',
        lambda name, *a: None if name == 'nncf' else find_spec(name, *a),
    )  # fmt: skip
    xml = _two_convs(str(tmp_path / 'm.xml'))
    with pytest.raises(RuntimeError, match=r"pip install 'nncf"):
        quantize_ir(xml, str(tmp_path / 'q.xml'), [_input()])
