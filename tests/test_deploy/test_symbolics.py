"""The symbolics dfine_mm registers, on tiny modules exported through
mmdeploy's ``export`` with the ONNX Runtime and TensorRT backends."""

import pytest
import torch
import torch.nn.functional as F

import dfine_mm.deploy  # noqa: F401

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')


class Sampler(torch.nn.Module):
    def forward(self, value, grid):
        return F.grid_sample(
            value,
            grid,
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False,
        )


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm = torch.nn.LayerNorm(8)

    def forward(self, x):
        query = x + 1.0  # query != value, as with position embeddings
        return self.norm(x + self.attn(query, query, x)[0])


@pytest.mark.parametrize('backend', ['onnxruntime', 'tensorrt'])
def test_grid_sample_is_standard(tmp_path, backend, export_onnx, run_onnx):
    gen = torch.Generator().manual_seed(0)
    args = (
        torch.randn(2, 4, 5, 7, generator=gen),
        torch.rand(2, 3, 6, 2, generator=gen) * 2.2 - 1.1,
    )
    path = str(tmp_path / 'sampler.onnx')
    ops = export_onnx(Sampler(), args, path, backend, 16)
    assert ops[('', 'GridSample')] == 1
    assert all(domain == '' for domain, _ in ops)
    expected = Sampler()(*args)
    assert torch.allclose(run_onnx(path, args), expected, atol=1e-5)


def test_grid_sample_below_opset_16_fails(tmp_path, export_onnx):
    args = (torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 2))
    with pytest.raises(Exception, match='opset >= 16'):
        export_onnx(
            Sampler(), args, str(tmp_path / 's.onnx'), 'onnxruntime', 15
        )


@pytest.mark.parametrize(
    'opset, native', [(17, True), (16, False)], ids=['opset17', 'opset16']
)
def test_layer_norm_and_dropout(
    tmp_path, opset, native, export_onnx, run_onnx
):
    torch.manual_seed(0)
    block = Block()
    args = (torch.randn(2, 5, 8),)
    path = str(tmp_path / 'block.onnx')
    ops = export_onnx(block, args, path, 'tensorrt', opset)
    assert (ops[('', 'LayerNormalization')] == 1) == native
    # eval-mode attention calls dropout(p=0, training=True): not exported
    assert ops[('', 'Dropout')] == 0
    with torch.no_grad():
        expected = block.eval()(*args)
    assert torch.allclose(run_onnx(path, args), expected, atol=1e-5)
