"""RepNCSPELAN4 with two inputs: the block over an upsampled coarse map and
a fine one, with the first 1x1 convolution split by input."""

import copy

import pytest
import torch
import torch.nn.functional as F

from dfine_mm.models.layers.rep_ncsp_elan import (
    RepNCSPELAN4,
    conv1x1_upsampled_cat,
)
from dfine_mm.testing import perturb_


def _block() -> RepNCSPELAN4:
    torch.manual_seed(0)
    block = RepNCSPELAN4(16, 12, 16, 6, 1, act_cfg=dict(type='SiLU'))
    perturb_(block, seed=1)
    return block


def _maps(memory_format=torch.contiguous_format):
    gen = torch.Generator().manual_seed(2)
    top = torch.randn(2, 8, 5, 7, generator=gen)
    finer = torch.randn(2, 8, 10, 14, generator=gen)
    return [
        x.contiguous(memory_format=memory_format).requires_grad_()
        for x in (top, finer)
    ]


def _close(actual, expected, msg=None):
    """Equal up to float rounding: 1e-5 relative to ``expected``'s
    largest magnitude."""
    scale = float(expected.abs().max())
    torch.testing.assert_close(
        actual, expected, rtol=1e-5, atol=1e-5 * scale, msg=msg
    )


def _concatenated(block, top, finer):
    upsampled = F.interpolate(top, scale_factor=2.0, mode='nearest')
    return block(torch.cat((upsampled, finer), dim=1))


@pytest.mark.parametrize(
    'memory_format', [torch.contiguous_format, torch.channels_last]
)
def test_training_step_matches_the_concatenation(memory_format):
    split = _block().train()
    concat = copy.deepcopy(split)
    top, finer = _maps(memory_format)
    top_c, finer_c = (
        x.detach().clone().requires_grad_() for x in (top, finer)
    )
    out = split(top, finer)
    expected = _concatenated(concat, top_c, finer_c)
    assert out.shape == (2, 12, 10, 14)
    _close(out, expected)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    out.backward(grad)
    expected.backward(grad)
    _close(top.grad, top_c.grad)
    _close(finer.grad, finer_c.grad)
    for (name, param), other in zip(
        split.named_parameters(), concat.parameters()
    ):
        _close(param.grad, other.grad, msg=name)
    # the batch norms saw the same statistics
    for (name, buffer), other in zip(split.named_buffers(), concat.buffers()):
        _close(buffer, other, msg=name)


def test_eval_matches_the_concatenation():
    block = _block().eval()
    top, finer = _maps()
    with torch.no_grad():
        out = block(top, finer)
        expected = _concatenated(block, top, finer)
    _close(out, expected)


def test_deployed_is_the_concatenation():
    """Re-parameterized, the block runs the original's graph (the one
    get_flops.py counts): bit for bit the concatenated form."""
    block = _block().eval()
    block.cv1.switch_to_deploy()
    top, finer = _maps()
    with torch.no_grad():
        assert torch.equal(
            block(top, finer),
            _concatenated(block, top, finer),
        )


def test_conv1x1_upsampled_cat_with_bias():
    gen = torch.Generator().manual_seed(5)
    weight = torch.randn(6, 16, 1, 1, generator=gen)
    bias = torch.randn(6, generator=gen)
    top, finer = (x.detach() for x in _maps())
    upsampled = F.interpolate(top, scale_factor=2.0, mode='nearest')
    expected = F.conv2d(torch.cat((upsampled, finer), dim=1), weight, bias)
    _close(conv1x1_upsampled_cat(weight, bias, top, finer), expected)


def test_csp_branch_reads_a_dense_half_with_the_same_results(monkeypatch):
    # in channels-last training the second half of cv1's output (a strided
    # channel slice) is copied dense for cv2; nothing else changes
    from dfine_mm.models.layers import rep_ncsp_elan

    block = _block().train().to(memory_format=torch.channels_last)
    plain = copy.deepcopy(block)
    seen = []
    block.cv2[0].register_forward_pre_hook(
        lambda module, args: seen.append(
            args[0].is_contiguous(memory_format=torch.channels_last)
        )
    )
    x = _maps()[1].detach().repeat(1, 2, 1, 1)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    x_plain = x.detach().clone().requires_grad_()
    out = block(x)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    out.backward(grad)
    assert seen == [True]
    monkeypatch.setattr(
        rep_ncsp_elan, 'dense_channels_last', lambda half: half
    )
    expected = plain(x_plain)
    expected.backward(grad)
    # the forward is the same; gradients are summed in another order
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    _close(x.grad, x_plain.grad)
    for (name, param), other in zip(
        block.named_parameters(), plain.parameters()
    ):
        _close(param.grad, other.grad, msg=name)


@pytest.mark.parametrize('hooked', ['cv1', 'cv1.conv'])
def test_a_hook_on_cv1_is_run(hooked):
    """A forward hook on ``cv1`` or its conv runs: the block then calls
    it on the concatenation, with the same values."""
    block = _block().train()
    reference = copy.deepcopy(block)
    calls = []
    block.get_submodule(hooked).register_forward_hook(
        lambda module, args, out: calls.append(args[0].shape[1])
    )
    top, finer = _maps()
    out = block(top, finer)
    assert calls == [16]
    _close(out.detach(), _concatenated(reference, top, finer).detach())
