"""Helpers for the deploy tests: tiny modules through mmdeploy's export."""

from collections import Counter

import pytest
import torch
from mmengine.config import Config


def _export(module, args, path, backend, opset=17):
    """Export ``module(*args)`` with mmdeploy (its rewriters and ours for
    ``backend``) to ``path``; inputs ``in0``, ``in1``, ..., output ``out``.

    Returns:
        Counter: (domain, op type) of the graph's nodes.
    """
    onnx = pytest.importorskip('onnx')
    from mmdeploy.apis.onnx import export

    cfg = Config(
        dict(
            backend_config=dict(type=backend),
            onnx_config=dict(type='onnx', opset_version=opset),
            codebase_config=dict(type='mmdet', task='ObjectDetection'),
        )
    )
    export(
        module.eval(),
        args,
        output_path_prefix=path[: -len('.onnx')],
        backend=backend,
        context_info=dict(deploy_cfg=cfg),
        input_names=[f'in{i}' for i in range(len(args))],
        output_names=['out'],
        opset_version=opset,
    )
    graph = onnx.load(path).graph
    return Counter((n.domain, n.op_type) for n in graph.node)


def _run(path, args):
    """Run an :func:`_export`-ed graph in ONNX Runtime on ``args``."""
    ort = pytest.importorskip('onnxruntime')
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    feeds = {f'in{i}': a.numpy() for i, a in enumerate(args)}
    return torch.from_numpy(session.run(None, feeds)[0])


@pytest.fixture
def export_onnx():
    """:func:`_export`: ``(module, args, path, backend, opset=17) ->
    Counter`` of the exported graph's (domain, op type)."""
    return _export


@pytest.fixture
def run_onnx():
    """:func:`_run`: ``(path, args) -> Tensor``, the first output."""
    return _run
