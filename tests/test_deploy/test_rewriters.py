"""The function rewriters of ``dfine_mm.deploy.rewriters``: each export
computes what the PyTorch module computes."""

from collections import Counter

import pytest
import torch
from helpers import TINY_NECK

import dfine_mm.deploy  # noqa: F401
from dfine_mm.models.layers.dfine_ms_deform_attn import (
    DFineMSDeformableAttention,
)
from dfine_mm.models.layers.hgnetv2_stem import StemBlock
from dfine_mm.models.necks import DFineHybridEncoder
from dfine_mm.testing import perturb_

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')


def _runtime_ops(path: str, tmp_path) -> Counter:
    """Op types ONNX Runtime runs after its basic optimisations (constant
    folding: the padded weights of the rewritten stem are constants)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )
    options.optimized_model_filepath = str(tmp_path / 'basic.onnx')
    ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    graph = onnx.load(options.optimized_model_filepath).graph
    return Counter(n.op_type for n in graph.node)


def _stem(deployed: bool) -> StemBlock:
    """A stem with random norms and affine blocks, some shifts negative
    (the pad's zeros then win the max-pool at the border)."""
    gen = torch.Generator().manual_seed(0)
    stem = StemBlock(3, 16, 24, use_lab=True)
    for name in ('stem1', 'stem2a', 'stem2b', 'stem3', 'stem4'):
        block = getattr(stem, name)
        channels = block.bn.num_features
        block.bn.running_mean.normal_(0, 0.2, generator=gen)
        block.bn.running_var.uniform_(0.5, 2.0, generator=gen)
        block.bn.weight.data.normal_(1, 0.3, generator=gen)
        block.bn.bias.data.normal_(0, 0.3, generator=gen)
        block.lab.scale.data.fill_(0.5 + torch.rand(1, generator=gen).item())
        block.lab.bias.data.fill_(-0.3 if channels == 16 else 0.2)
    stem.eval()
    if deployed:
        for module in stem.modules():
            if module is not stem and hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()
    return stem


@pytest.mark.parametrize('deployed', [True, False], ids=['deploy', 'train'])
@pytest.mark.parametrize('size', [(64, 64), (38, 50)], ids=str)
def test_stem_without_pad(tmp_path, export_onnx, run_onnx, deployed, size):
    stem = _stem(deployed)
    args = (
        torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1)),
    )
    path = str(tmp_path / 'stem.onnx')
    export_onnx(stem, args, path, 'onnxruntime')
    # deployed, the zero pads are convolution padding (ONNX Runtime keeps
    # them in its NCHWc layout); the training form exports unchanged
    assert (_runtime_ops(path, tmp_path)['Pad'] == 0) == deployed
    with torch.no_grad():
        expected = stem(*args)
    assert torch.allclose(run_onnx(path, args), expected, atol=1e-5)


class _Attention(torch.nn.Module):
    """Deformable attention over two levels of fixed size."""

    shapes = ((6, 8), (3, 4))

    def __init__(self, method: str) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.attn = DFineMSDeformableAttention(
            32, 4, num_points=(2, 3), method=method
        )
        with torch.no_grad():
            for linear in (
                self.attn.sampling_offsets,
                self.attn.attention_weights,
            ):
                linear.weight.normal_(0, 0.3, generator=gen)
                linear.bias.normal_(0, 0.5, generator=gen)

    def forward(self, query, reference_points, value):
        maps = self.attn.split_value(value, self.shapes)
        return self.attn(query, reference_points, maps, self.shapes)


@pytest.mark.parametrize('method', ['default', 'discrete'])
def test_deformable_attention(tmp_path, export_onnx, run_onnx, method):
    gen = torch.Generator().manual_seed(2)
    module = _Attention(method)
    boxes = torch.cat(
        [
            torch.rand(2, 7, 2, generator=gen),
            torch.rand(2, 7, 2, generator=gen) * 0.5 + 0.05,
        ],
        -1,
    )
    args = (
        torch.randn(2, 7, 32, generator=gen),
        boxes,
        torch.randn(2, 6 * 8 + 3 * 4, 32, generator=gen),
    )
    path = str(tmp_path / 'attn.onnx')
    ops = export_onnx(module, args, path, 'onnxruntime')
    if method == 'default':
        # the grid in one multiply-add: no ``2 * x - 1`` per level; one
        # projection for the weights and one per level for the offsets,
        # laid out per head: transposed are only the value (split_value)
        # and the output, and the samples are not concatenated
        assert ops[('', 'Sub')] == 1
        runtime = _runtime_ops(path, tmp_path)
        assert runtime['MatMul'] == 3 and runtime['Transpose'] == 2
        assert runtime['Concat'] == 0
    with torch.no_grad():
        expected = module(*args)
    assert torch.allclose(run_onnx(path, args), expected, atol=1e-5)


class _Encoder(torch.nn.Module):
    """A tiny hybrid encoder (three levels); outputs concatenated."""

    def __init__(self, deployed: bool) -> None:
        super().__init__()
        self.neck = DFineHybridEncoder(**TINY_NECK)
        torch.manual_seed(0)
        perturb_(self.neck, seed=3)
        self.neck.eval()
        if deployed:
            self.neck.switch_to_deploy()

    def forward(self, *feats):
        return torch.cat([out.flatten(1) for out in self.neck(feats)], 1)


@pytest.mark.parametrize('deployed', [True, False], ids=['deploy', 'train'])
def test_encoder_fpn_convolves_before_upsampling(
    tmp_path, export_onnx, run_onnx, deployed
):
    gen = torch.Generator().manual_seed(4)
    module = _Encoder(deployed)
    args = tuple(
        torch.randn(2, c, 64 // s, 96 // s, generator=gen)
        for c, s in ((8, 8), (16, 16), (32, 32))
    )
    path = str(tmp_path / 'encoder.onnx')
    ops = export_onnx(module, args, path, 'onnxruntime')
    # each FPN block's first convolution runs on the coarse map before the
    # upsampling and the upsampled and the fine parts are added, not
    # concatenated: in the training form as the module computes it
    # (RepNCSPELAN4.forward with two maps, one upsampling per block, 2
    # blocks), deployed by the rewriter (one upsampling per half of its
    # outputs)
    graph = onnx.load(path).graph
    producer = {out: n for n in graph.node for out in n.output}
    upsampled = [
        producer[n.input[0]] for n in graph.node if n.op_type == 'Resize'
    ]
    assert len(upsampled) == (4 if deployed else 2)
    assert all(n.op_type == 'Conv' for n in upsampled)
    assert ops[('', 'Concat')] == 9
    with torch.no_grad():
        expected = module(*args)
    assert torch.allclose(run_onnx(path, args), expected, atol=1e-5)
