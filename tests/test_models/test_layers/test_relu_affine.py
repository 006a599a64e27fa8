"""relu_affine: HGNetV2's ReLU + learnable affine block as one autograd
node; its values and gradients are those of the op-by-op formula, its
backward writes fewer maps, and the plain path stays where no backward is
recorded or a graph is traced."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dfine_mm.models.layers.hgnetv2_blocks import ConvBNAct
from dfine_mm.models.layers.relu_affine import relu_affine


def _inputs(memory_format, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, 6, 7, generator=gen, dtype=dtype)
    x = x.contiguous(memory_format=memory_format).requires_grad_()
    scale = torch.tensor([0.7], dtype=dtype, requires_grad=True)
    bias = torch.tensor([-0.2], dtype=dtype, requires_grad=True)
    grad = torch.randn(2, 5, 6, 7, generator=gen, dtype=dtype)
    return x, scale, bias, grad.contiguous(memory_format=memory_format)


def _reference(x, scale, bias):  # the op-by-op code it replaces
    return torch.addcmul(bias, torch.relu(x), scale)


@pytest.mark.parametrize(
    'memory_format', [torch.contiguous_format, torch.channels_last]
)
@pytest.mark.parametrize('grad_format', ['same', 'other'])
def test_values_and_gradients_are_the_formulas(memory_format, grad_format):
    x, scale, bias, grad = _inputs(memory_format)
    if grad_format == 'other':  # a gradient laid out unlike the map
        grad = grad.contiguous(
            memory_format=torch.contiguous_format
            if memory_format == torch.channels_last
            else torch.channels_last
        )
    inputs = (x, scale, bias)
    out = relu_affine(x * 1.0, scale, bias)
    assert type(out.grad_fn).__name__ == '_ReLUAffineBackward'
    expected = _reference(*inputs)
    assert torch.equal(out, expected)
    got = torch.autograd.grad(out, inputs, grad)
    want = torch.autograd.grad(expected, inputs, grad)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_only_the_inputs_that_need_it_get_a_gradient():
    x, scale, bias, grad = _inputs(torch.channels_last)
    bias.requires_grad_(False)
    out = relu_affine(x.detach() * 1.0, scale, bias)  # x needs none
    (grad_scale,) = torch.autograd.grad(out, (scale,), grad)
    expected = (grad * torch.relu(x.detach())).sum().reshape(1)
    torch.testing.assert_close(grad_scale, expected, rtol=1e-12, atol=0)


class _MapsWritten(TorchDispatchMode):
    """Counts the new maps of ``numel`` elements that operators write."""

    def __init__(self, numel):
        super().__init__()
        self.numel, self.count = numel, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        seen = {  # views and in-place results share an input's storage
            a.untyped_storage().data_ptr()
            for a in list(args) + list((kwargs or {}).values())
            if isinstance(a, torch.Tensor)
        }
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if (
                isinstance(t, torch.Tensor)
                and t.numel() == self.numel
                and t.untyped_storage().data_ptr() not in seen
            ):
                self.count += 1
        return out


def _maps_written_by_backward(fn):
    x, scale, bias, grad = _inputs(torch.channels_last, torch.float32)
    z = x * 1.0  # a non-leaf, as a norm's output
    out = fn(z, scale, bias)
    with _MapsWritten(x.numel()) as counter:
        torch.autograd.grad(out, (z, scale, bias), grad)
    return counter.count


def test_its_backward_writes_one_map_instead_of_three():
    def op_by_op(x, scale, bias):
        return torch.addcmul(bias, torch.relu_(x), scale)

    assert _maps_written_by_backward(op_by_op) == 3
    assert _maps_written_by_backward(relu_affine) == 1


def test_without_autograd_the_relu_runs_in_place():
    x, scale, bias, _ = _inputs(torch.channels_last)
    base = x.detach().clone()
    with torch.no_grad():
        out = relu_affine(base, scale, bias)
    assert torch.equal(base, torch.relu(x.detach()))  # overwritten
    assert torch.equal(out, _reference(x, scale, bias).detach())


def test_mixed_dtypes_take_the_op_by_op_path():
    x, scale, bias, _ = _inputs(torch.contiguous_format, torch.float32)
    x16 = x.detach().bfloat16().requires_grad_()
    out = relu_affine(x16 * 1.0, scale, bias)
    assert type(out.grad_fn).__name__ == 'AddcmulBackward0'
    assert torch.equal(out, torch.addcmul(bias, torch.relu(x16), scale))


def test_conv_bn_act_uses_it_and_a_trace_records_aten_ops():
    block = ConvBNAct(3, 4, 3, use_lab=True).train()
    x = torch.randn(2, 3, 8, 8)
    out = block(x)
    assert type(out.grad_fn).__name__ == '_ReLUAffineBackward'
    traced = torch.jit.trace(block, x, check_trace=False)
    kinds = {node.kind() for node in traced.graph.nodes()}
    assert 'prim::PythonOp' not in kinds
    assert 'aten::addcmul' in kinds
    no_lab = ConvBNAct(3, 4, 3).train()
    assert type(no_lab(x).grad_fn).__name__ == 'ReluBackward0'
