import pytest
import torch

import dfine_mm.deploy  # noqa: F401  (selects the legacy exporter)
from dfine_mm.deploy.onnx_exporter import (
    check_opset,
    original_onnx_export,
    select_legacy_onnx_exporter,
)


def test_legacy_exporter_is_the_default(tmp_path):
    onnx = pytest.importorskip('onnx')
    assert select_legacy_onnx_exporter()
    assert select_legacy_onnx_exporter()  # idempotent
    assert original_onnx_export() is not torch.onnx.export
    path = str(tmp_path / 'linear.onnx')
    # onnxscript (needed by the dynamo exporter) is not installed: only the
    # TorchScript exporter can write this file
    torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3),), path)
    assert onnx.load(path).graph.node[0].op_type == 'Gemm'


@pytest.mark.parametrize(
    'opset, backend, message',
    [
        (11, 'onnxruntime', 'GridSample'),
        (15, 'tensorrt', 'GridSample'),
        (16, 'tensorrt', 'LayerNormalization'),
    ],
)
def test_check_opset_refuses(opset, backend, message):
    with pytest.raises(ValueError, match=message):
        check_opset(opset, backend)


def test_check_opset_accepts():
    check_opset(16, 'onnxruntime')
    check_opset(17, 'tensorrt')
