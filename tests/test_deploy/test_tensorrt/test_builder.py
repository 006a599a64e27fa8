import glob
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT
from mmengine.config import Config

from dfine_mm.deploy.tensorrt import (
    DFineTensorRTManager,
    cuda_device_id,
    engine_input_shapes,
    fp32_layer_indices,
    require_tensorrt,
    tensorrt_version,
)

TRT_CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', 'deploy', '*tensorrt*.py'))
)
HAS_TENSORRT = tensorrt_version() is not None


def test_every_tensorrt_config_has_a_valid_profile():
    assert len(TRT_CONFIGS) >= 3, 'no TensorRT deploy configs found'
    assert len(TRT_CONFIGS) == 3
    seen = {}
    for path in TRT_CONFIGS:
        cfg = Config.fromfile(path)
        assert cfg.onnx_config.opset_version == 17
        shapes = engine_input_shapes(cfg)['input']
        fp16 = cfg.backend_config.common_config.fp16_mode
        seen[osp.basename(path)] = (
            fp16,
            shapes['min_shape'][0],
            shapes['max_shape'][0],
        )
        assert shapes['opt_shape'][1:] == [3, 640, 640]
    assert seen == {
        'detection_tensorrt-fp16_dynamic-batch-640x640.py': (True, 1, 32),
        'detection_tensorrt-fp16_static-640x640.py': (True, 1, 1),
        'detection_tensorrt_static-640x640.py': (False, 1, 1),
    }


@pytest.mark.parametrize(
    'spec, message',
    [
        ({}, 'model_inputs'),
        (dict(input=dict(min_shape=[1, 3], opt_shape=[1, 3])), 'max_shape'),
        (
            dict(input=dict(min_shape=[2], opt_shape=[1], max_shape=[4])),
            'min <= opt <= max',
        ),
    ],
)
def test_invalid_profiles(spec, message):
    model_inputs = [dict(input_shapes=spec)] if spec else []
    cfg = Config(dict(backend_config=dict(model_inputs=model_inputs)))
    with pytest.raises(ValueError, match=message):
        engine_input_shapes(cfg)


def test_normalization_layers_stay_fp32():
    types = ['CONVOLUTION', 'NORMALIZATION', 'ELEMENTWISE', 'NORMALIZATION']
    assert fp32_layer_indices(types) == [1, 3]
    assert fp32_layer_indices(['MATRIX_MULTIPLY']) == []


def test_cuda_device_id():
    assert cuda_device_id('cuda') == 0
    assert cuda_device_id('cuda:1') == 1
    with pytest.raises(ValueError, match='--device cuda:0'):
        cuda_device_id('cpu')


def test_manager_replaces_mmdeploys():
    from mmdeploy.backend.base import get_backend_manager

    assert get_backend_manager('tensorrt') is DFineTensorRTManager
    assert DFineTensorRTManager.is_available() == HAS_TENSORRT


@pytest.mark.skipif(HAS_TENSORRT, reason='TensorRT is installed')
def test_missing_tensorrt_says_how_to_install():
    with pytest.raises(RuntimeError, match='TensorRT >= 10.*pip install'):
        require_tensorrt()


@pytest.mark.skipif(
    not HAS_TENSORRT or not torch.cuda.is_available(),
    reason='needs TensorRT 10+ and a CUDA GPU',
)
def test_engine_runs_a_small_graph(tmp_path):
    """Build fp32 and fp16 engines of a conv + layer norm graph and run
    them with the runner (GPU machines with TensorRT only)."""
    from dfine_mm.deploy.tensorrt import build_engine
    from dfine_mm.deploy.tensorrt.wrapper import TensorRT10Wrapper

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.norm = torch.nn.LayerNorm(8)

        def forward(self, x):
            return self.norm(self.conv(x).permute(0, 2, 3, 1))

    net = Net().eval()
    x = torch.randn(2, 3, 16, 16)
    path = str(tmp_path / 'net.onnx')
    torch.onnx.export(
        net,
        (x,),
        path,
        input_names=['input'],
        output_names=['out'],
        opset_version=17,
        dynamic_axes=dict(input={0: 'b'}, out={0: 'b'}),
    )
    shapes = dict(
        input=dict(
            min_shape=[1, 3, 16, 16],
            opt_shape=[2, 3, 16, 16],
            max_shape=[4, 3, 16, 16],
        )
    )
    expected = net(x).detach()
    for fp16, tol in ((False, 1e-4), (True, 2e-2)):
        engine = build_engine(
            path, str(tmp_path / 'net.engine'), shapes, fp16=fp16
        )
        out = TensorRT10Wrapper(engine)(dict(input=x.cuda()))['out']
        assert torch.allclose(out.float().cpu(), expected, atol=tol)


@pytest.mark.parametrize(
    'version, usable', [('8.6.1', False), ('10.0.1', True), (None, False)]
)
def test_tensorrt_versions(monkeypatch, version, usable):
    """The manager and require_tensorrt against a stand-in ``tensorrt``
    module of a given version (None: not importable), independent of what
    this machine has installed."""
    import sys
    import types

    if version is None:
        monkeypatch.setitem(sys.modules, 'tensorrt', None)  # ImportError
    else:
        fake = types.ModuleType('tensorrt')
        fake.__version__ = version
        monkeypatch.setitem(sys.modules, 'tensorrt', fake)
    assert DFineTensorRTManager.is_available() is usable
    assert DFineTensorRTManager.get_version() == (version or 'None')
    if usable:
        assert require_tensorrt() is sys.modules['tensorrt']
        return
    message = 'not installed' if version is None else f'TensorRT {version}'
    with pytest.raises(RuntimeError, match=message):
        require_tensorrt()
