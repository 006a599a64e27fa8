"""HGNetV2's ``ConvBNAct``: its norm, ReLU and learnable affine block run
as one autograd node only when that skips no hook."""

import copy

import pytest
import torch
from torch.nn.modules import module as torch_module

from dfine_mm.models.layers.hgnetv2_blocks import ConvBNAct
from dfine_mm.testing import perturb_


def _brick_and_input():
    torch.manual_seed(0)
    brick = ConvBNAct(4, 8, 3, use_lab=True).double().train()
    perturb_(brick, scale=0.1)  # the LAB away from (1, 0)
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64, requires_grad=True)
    return brick, x


def _step(brick, x):
    out = brick(x)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    out.backward(grad.to(out.dtype))
    return out


def _assert_steps_agree(brick, x, reference, x_ref):
    torch.testing.assert_close(
        _step(brick, x), _step(reference, x_ref), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    for (name, param), want in zip(
        brick.named_parameters(), reference.parameters()
    ):
        torch.testing.assert_close(
            param.grad, want.grad, rtol=1e-10, atol=1e-12, msg=name
        )


# no full backward hook on the in-place ReLU: PyTorch refuses it there
@pytest.mark.parametrize(
    'kind, part',
    [
        ('forward', 'bn'),
        ('forward', 'act'),
        ('forward', 'lab'),
        ('backward', 'bn'),
        ('backward', 'lab'),
    ],
)
def test_a_hook_on_a_part_runs(kind, part):
    brick, x = _brick_and_input()
    reference, x_ref = copy.deepcopy(brick), x.detach().clone()
    calls = []
    module = getattr(brick, part)
    if kind == 'forward':
        module.register_forward_hook(lambda *args: calls.append(part))
    else:
        module.register_full_backward_hook(lambda *args: calls.append(part))
    _assert_steps_agree(brick, x, reference, x_ref.requires_grad_())
    assert calls == [part]


def test_a_global_hook_sees_every_part():
    brick, x = _brick_and_input()
    names = {module: name for name, module in brick.named_modules()}
    calls = []
    handle = torch_module.register_module_forward_hook(
        lambda module, args, out: calls.append(names.get(module))
    )
    try:
        brick(x)
    finally:
        handle.remove()
    assert calls == ['conv', 'bn', 'act', 'lab', '']
