"""HGNetV2's ``ConvBNAct``: its norm, ReLU and learnable affine block run
as one autograd node only when that skips no hook."""

import copy

import pytest
import torch
from torch.nn.modules import module as torch_module

from dfine_mm.models.layers.conv_bn_act import ConvBNAct
from dfine_mm.models.layers.folded_relu_affine import FoldedReLUAffine
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


@pytest.mark.parametrize(
    'use_act, use_lab, scale',
    [(True, True, 0.8), (True, True, -0.8), (True, False, None),
     (False, False, None)],
)  # fmt: skip
def test_switch_to_deploy_keeps_the_output(use_act, use_lab, scale):
    """The eval-mode norm goes into the conv, and a LAB's scale too: ReLU
    + LAB become one clamp at the LAB's bias, from above when the scale
    is negative."""
    torch.manual_seed(0)
    brick = ConvBNAct(4, 8, 3, use_act=use_act, use_lab=use_lab).double()
    perturb_(brick, scale=0.1)
    if scale is not None:
        with torch.no_grad():
            brick.lab.scale.fill_(scale)
    brick.eval()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    expected = brick(x)
    brick.switch_to_deploy()
    assert brick.bn is None and brick.conv.bias is not None
    if use_lab:
        assert brick.lab is None
        assert isinstance(brick.act, FoldedReLUAffine)
        assert brick.act.upper == (scale < 0)
    torch.testing.assert_close(brick(x), expected, rtol=1e-12, atol=1e-12)
