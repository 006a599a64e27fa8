"""relu_affine and norm_relu_affine: HGNetV2's (batch norm +) ReLU +
learnable affine block as one autograd node; values, gradients and running
statistics are those of the op-by-op code, the backward makes fewer passes
over the map, and the op-by-op path stays where no backward is recorded, a
graph is traced or the norm cannot run inside the node."""

import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dfine_mm.models.layers.conv_bn_act import ConvBNAct
from dfine_mm.models.layers.learnable_affine_block import (
    norm_relu_affine,
    relu_affine,
)


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


class _MapPasses(TorchDispatchMode):
    """Counts the operator calls (views aside) that read or write a map of
    ``numel`` elements."""

    def __init__(self, numel):
        super().__init__()
        self.numel, self.count = numel, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else [out]
        tensors = [*args, *(kwargs or {}).values(), *outs]
        self.count += not func.is_view and any(
            isinstance(t, torch.Tensor) and t.numel() == self.numel
            for t in tensors
        )
        return out


def _passes_and_saved(fn):
    """Passes over the map in the forward and in the backward of
    ``fn(z, norm, scale, bias)`` (z a norm's input in channels-last
    format), and how many maps autograd keeps besides z and the output
    (which the next layer keeps anyway)."""
    x, scale, bias, grad = _inputs(torch.channels_last, torch.float32)
    norm = torch.nn.BatchNorm2d(5).to(memory_format=torch.channels_last)
    z = x * 1.0  # a non-leaf, as a convolution's output
    kept = set()

    def pack(t):
        if t.numel() == x.numel() and t.data_ptr() != z.data_ptr():
            kept.add(t.data_ptr())
        return t

    saving = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
    with _MapPasses(x.numel()) as forward, saving:
        out = fn(z, norm, scale, bias)
    with _MapPasses(x.numel()) as backward:
        torch.autograd.grad(out, (z, norm.weight, scale, bias), grad)
    # z * 1.0 is not counted: _MapPasses starts after it
    return forward.count, backward.count, len(kept - {out.data_ptr()})


def test_fewer_passes_over_the_map_and_fewer_maps_kept():
    def op_by_op(x, norm, scale, bias):  # the code before
        return torch.addcmul(bias, torch.relu_(norm(x)), scale)

    def after_the_norm(x, norm, scale, bias):
        return relu_affine(norm(x), scale, bias)

    # backward: three muls (one by addcmul's value, 1), two sums,
    # threshold_backward, the norm's backward; the ReLU's output is kept
    assert _passes_and_saved(op_by_op) == (3, 7, 1)
    # backward: dot, sum, threshold_backward, mul_, the norm's backward
    assert _passes_and_saved(after_the_norm) == (3, 5, 1)
    # forward: the norm, the clamp; backward: sum, threshold_backward, the
    # norm's backward; only the output is kept
    assert _passes_and_saved(norm_relu_affine) == (2, 3, 0)


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


def test_conv_bn_act_uses_them_and_a_trace_records_aten_ops():
    block = ConvBNAct(3, 4, 3, use_lab=True).train()
    x = torch.randn(2, 3, 8, 8)
    assert block.fuses_norm
    assert type(block(x).grad_fn).__name__ == '_NormReLUAffineBackward'
    out = block.eval()(x)  # the norm's running statistics
    assert type(out.grad_fn).__name__ == '_ReLUAffineBackward'
    block.train()
    traced = torch.jit.trace(block, x, check_trace=False)
    kinds = {node.kind() for node in traced.graph.nodes()}
    assert 'prim::PythonOp' not in kinds
    assert 'aten::addcmul' in kinds
    no_lab = ConvBNAct(3, 4, 3).train()
    assert not no_lab.fuses_norm
    assert type(no_lab(x).grad_fn).__name__ == 'ReluBackward0'


def _norm_and_inputs(memory_format, momentum=0.1):
    x, scale, bias, grad = _inputs(memory_format)
    norm = torch.nn.BatchNorm2d(5, momentum=momentum).double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5, generator=gen)
        norm.bias.uniform_(-0.5, 0.5, generator=gen)
        norm.running_mean.uniform_(-1, 1, generator=gen)
        norm.running_var.uniform_(0.5, 2, generator=gen)
    return x, norm, scale, bias, grad


@pytest.mark.parametrize('momentum', [0.1, None])
@pytest.mark.parametrize(
    'memory_format', [torch.contiguous_format, torch.channels_last]
)
@pytest.mark.parametrize('grad_format', ['same', 'other'])
def test_with_the_norm_values_gradients_and_statistics_are_the_modules(
    memory_format, grad_format, momentum
):
    x, norm, scale, bias, grad = _norm_and_inputs(memory_format, momentum)
    if grad_format == 'other':  # e.g. a channel slice of a larger one
        grad = torch.cat([grad, grad], 1)[:, 5:]
    reference = copy.deepcopy(norm)
    z = x * 1.0
    out = norm_relu_affine(z, norm, scale, bias)
    assert type(out.grad_fn).__name__ == '_NormReLUAffineBackward'
    expected = _reference(reference(x * 1.0), scale, bias)
    torch.testing.assert_close(out, expected, rtol=1e-14, atol=1e-15)
    assert out.is_contiguous(memory_format=memory_format)
    for name in ('running_mean', 'running_var', 'num_batches_tracked'):
        assert torch.equal(getattr(norm, name), getattr(reference, name))
    inputs = (x, norm.weight, norm.bias, scale, bias)
    got = torch.autograd.grad(out, inputs, grad)
    want = torch.autograd.grad(
        expected, (x, reference.weight, reference.bias, scale, bias), grad
    )
    for a, b in zip(got, want):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_norms_that_cannot_run_inside_are_called_as_modules():
    x, norm, scale, bias, _ = _norm_and_inputs(torch.channels_last)
    calls = []
    norm.register_forward_hook(lambda *args: calls.append(1))
    out = norm_relu_affine(x * 1.0, norm, scale, bias)
    assert calls == [1]  # the hook ran: the module was called
    assert type(out.grad_fn).__name__ == '_ReLUAffineBackward'
    for other in (
        copy.deepcopy(norm).eval(),  # running statistics
        torch.nn.SyncBatchNorm(5).double(),  # another class
        torch.nn.BatchNorm2d(5, track_running_stats=False).double(),
    ):
        other._forward_hooks.clear()
        out = norm_relu_affine(x * 1.0, other, scale, bias)
        assert type(out.grad_fn).__name__ == '_ReLUAffineBackward'
    plain = torch.nn.BatchNorm2d(5).double()
    out = norm_relu_affine(x * 1.0, plain, scale, bias)
    assert type(out.grad_fn).__name__ == '_NormReLUAffineBackward'
    for value in (-0.5, 0.0):  # the clamp needs a positive scale
        other = torch.tensor([value], dtype=torch.float64).requires_grad_()
        out = norm_relu_affine(x * 1.0, plain, other, bias)
        assert type(out.grad_fn).__name__ == '_ReLUAffineBackward'
    one_value = torch.randn(1, 5, 1, 1, dtype=torch.float64)
    fresh = torch.nn.BatchNorm2d(5).double()
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        norm_relu_affine(one_value.requires_grad_(), fresh, scale, bias)


@pytest.mark.parametrize('with_norm', [False, True])
def test_a_bias_shaped_unlike_the_scale_gets_its_own_shape(with_norm):
    x, norm, scale, bias, grad = _norm_and_inputs(torch.channels_last)
    bias = bias.detach().view(1, 1, 1, 1).requires_grad_()
    if with_norm:
        out = norm_relu_affine(x * 1.0, norm, scale, bias)
        assert type(out.grad_fn).__name__ == '_NormReLUAffineBackward'
        expected = _reference(copy.deepcopy(norm)(x * 1.0), scale, bias)
    else:
        out = relu_affine(x * 1.0, scale, bias)
        expected = _reference(x, scale, bias)
    (got,) = torch.autograd.grad(out, (bias,), grad)
    (want,) = torch.autograd.grad(expected, (bias,), grad)
    assert got.shape == (1, 1, 1, 1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
