"""Check an ONNX graph against what TensorRT 10 parses natively, without
TensorRT: the operator list (``onnx_operators_trt10.txt``, with its source)
and the restrictions that concern detection exports."""

import os.path as osp
from functools import lru_cache
from typing import FrozenSet, List, Optional

OPERATORS_FILE = osp.join(osp.dirname(__file__), 'onnx_operators_trt10.txt')
#: TensorRT's TopK takes K < 3840
MAX_TOPK = 3840


@lru_cache(maxsize=1)
def tensorrt_onnx_operators() -> FrozenSet[str]:
    """Names of the ONNX operators TensorRT 10 supports."""
    with open(OPERATORS_FILE) as file:
        return frozenset(
            line.strip()
            for line in file
            if line.strip() and not line.startswith('#')
        )


def default_opset(model) -> Optional[int]:
    """Opset of the default ONNX domain of a loaded model (None if absent)."""
    return next(
        (o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')),
        None,
    )


def _constant_values(graph) -> dict:
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant' and node.attribute:
            attr = node.attribute[0]
            if attr.name == 'value':
                values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def tensorrt_problems(path: str) -> List[str]:
    """What in ``path`` TensorRT 10 would reject.

    Checks: every node in the default ONNX domain and in TensorRT's
    operator list; opset within 9..20; TopK with a constant K below 3840
    and ``sorted=1``; Dropout not in training mode.

    Returns:
        list[str]: One line per problem; empty when the graph is fine.
    """
    import onnx

    model = onnx.load(path, load_external_data=False)
    problems = []
    opset = default_opset(model)
    if opset is None or not 9 <= opset <= 20:
        problems.append(f"opset {opset} outside TensorRT 10's 9..20")
    supported = tensorrt_onnx_operators()
    graph = model.graph
    constants = _constant_values(graph)
    for node in graph.node:
        label = f'{node.op_type} node {node.name!r}'
        if node.domain not in ('', 'ai.onnx'):
            problems.append(f'{label} is in the custom domain {node.domain}')
        elif node.op_type not in supported:
            problems.append(f'{label} is not supported by TensorRT 10')
        if node.op_type == 'TopK':
            k = constants.get(node.input[1])
            if k is None:
                problems.append(f'{label}: K is not a constant')
            elif int(k.reshape(-1)[0]) >= MAX_TOPK:
                problems.append(f'{label}: K={int(k.reshape(-1)[0])} >= 3840')
            attrs = {a.name: a.i for a in node.attribute}
            if attrs.get('sorted', 1) != 1:
                problems.append(f'{label}: sorted must be 1')
        if node.op_type == 'Dropout' and len(node.input) > 2:
            mode = constants.get(node.input[2])
            if mode is None or bool(mode.reshape(-1)[0]):
                problems.append(f'{label}: training_mode must be False')
    return problems
