import pytest

from dfine_mm.deploy.tensorrt import (
    tensorrt_onnx_operators,
    tensorrt_problems,
)
from dfine_mm.deploy.tensorrt.onnx_support import OPERATORS_FILE

onnx = pytest.importorskip('onnx')
from onnx import TensorProto, helper  # noqa: E402


def test_operator_list_names_its_source():
    with open(OPERATORS_FILE) as file:
        header = file.read(600)
    assert 'github.com/onnx/onnx-tensorrt' in header
    ops = tensorrt_onnx_operators()
    assert len(ops) > 100
    assert {'GridSample', 'LayerNormalization', 'TopK', 'Conv'} <= ops
    # listed as unsupported by TensorRT 10
    assert not {'Compress', 'Det', 'Unique'} & ops


def _model(path, nodes, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes,
        'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
        initializer=list(initializers),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', opset)]
    )
    onnx.save(model, path)
    return path


def test_clean_graph(tmp_path):
    k = helper.make_tensor('k', TensorProto.INT64, [1], [3])
    nodes = [helper.make_node('TopK', ['x', 'k'], ['y', 'i'])]
    assert (
        tensorrt_problems(_model(str(tmp_path / 'a.onnx'), nodes, [k])) == []
    )


def test_problems_are_named(tmp_path):
    k = helper.make_tensor('k', TensorProto.INT64, [1], [5000])
    mode = helper.make_tensor('mode', TensorProto.BOOL, [], [True])
    ratio = helper.make_tensor('ratio', TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node('grid_sampler', ['x', 'x'], ['a'], domain='mmdeploy'),
        helper.make_node('Unique', ['x'], ['b']),
        helper.make_node('TopK', ['x', 'k'], ['c', 'i']),
        helper.make_node('Dropout', ['x', 'ratio', 'mode'], ['y']),
    ]
    path = _model(str(tmp_path / 'b.onnx'), nodes, [k, mode, ratio], 21)
    problems = '\n'.join(tensorrt_problems(path))
    for text in (
        'opset 21',
        'custom domain mmdeploy',
        'Unique',
        'K=5000',
        'training_mode',
    ):
        assert text in problems
