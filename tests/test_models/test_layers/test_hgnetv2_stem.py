"""HGNetV2's stem: it max-pools in channels-last format on the CPU (the
same values, indices and layout out), and before ``switch_to_deploy``
convolves its two branches without concatenating them."""

import pytest
import torch
import torch.nn.functional as F

from dfine_mm.models.layers.hgnetv2_stem import StemBlock
from dfine_mm.testing import perturb_


class _Recording(torch.nn.MaxPool2d):
    """The stem's pool, recording whether its input was channels-last."""

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=1)
        self.channels_last = []

    def forward(self, x):
        self.channels_last.append(
            x.is_contiguous(memory_format=torch.channels_last)
        )
        return super().forward(x)


def _stem_and_map():
    stem = StemBlock(3, 16, 24)
    stem.pool = _Recording()
    torch.manual_seed(0)
    return stem, F.relu(torch.randn(2, 16, 41, 41))  # ties: ReLU zeros


def test_max_pool_runs_channels_last_and_returns_the_input_layout():
    stem, x = _stem_and_map()
    pooled = stem.max_pool(x)
    assert stem.pool.channels_last == [True]
    assert pooled.is_contiguous()
    assert torch.equal(pooled, F.max_pool2d(x, 2, 1))
    channels_last = x.contiguous(memory_format=torch.channels_last)
    pooled = stem.max_pool(channels_last)
    assert pooled.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(pooled, F.max_pool2d(x, 2, 1))


def test_max_pool_gradient_follows_the_same_argmax():
    stem, x = _stem_and_map()
    x.requires_grad_(True)
    grad = torch.randn(2, 16, 40, 40)
    ours = torch.autograd.grad(stem.max_pool(x), x, grad)[0]
    plain = torch.autograd.grad(F.max_pool2d(x, 2, 1), x, grad)[0]
    torch.testing.assert_close(ours, plain, rtol=1e-6, atol=1e-7)


def test_the_stem_uses_it():
    stem, _ = _stem_and_map()
    out = stem(torch.randn(1, 3, 64, 64))
    assert stem.pool.channels_last == [True]
    assert out.shape == (1, 24, 16, 16)


def _stem_with_cat(stem, x):
    """The stem as the original writes it: stem3 on the concatenation."""
    x = F.pad(stem.stem1(x), (0, 1, 0, 1))
    branch = stem.stem2b(F.pad(stem.stem2a(x), (0, 1, 0, 1)))
    return stem.stem4(stem.stem3(torch.cat([stem.max_pool(x), branch], 1)))


def _cat_calls(monkeypatch):
    calls, real = [], torch.cat

    def cat(tensors, *args, **kwargs):
        calls.append(tuple(t.shape[1] for t in tensors))
        return real(tensors, *args, **kwargs)

    monkeypatch.setattr(torch, 'cat', cat)
    return calls


@pytest.mark.parametrize('channels_last', [False, True])
def test_the_branches_are_convolved_without_their_concatenation(
    channels_last, monkeypatch
):
    """Training: the original's values, gradients and running statistics
    (float64), and no concatenation is made."""
    torch.manual_seed(0)
    stem = StemBlock(3, 16, 24, use_lab=True).double()
    perturb_(stem, scale=0.1)  # the LAB away from (1, 0)
    reference = StemBlock(3, 16, 24, use_lab=True).double()
    reference.load_state_dict(stem.state_dict())
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64).contiguous(
        memory_format=fmt
    )
    expected = _stem_with_cat(reference, x)
    calls = _cat_calls(monkeypatch)
    out = stem(x)
    assert calls == []
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    for (name, param), want in zip(
        stem.named_parameters(), reference.parameters()
    ):
        torch.testing.assert_close(
            param.grad, want.grad, rtol=1e-10, atol=1e-12, msg=name
        )
    for buffer, want in zip(stem.buffers(), reference.buffers()):
        torch.testing.assert_close(buffer, want, rtol=1e-12, atol=1e-12)


def test_the_deployed_stem_concatenates(monkeypatch):
    """After switch_to_deploy the stem keeps the original's graph (one
    conv on the concatenation), with the eval-mode values."""
    torch.manual_seed(0)
    stem = StemBlock(3, 16, 24, use_lab=True).eval()
    x = torch.randn(1, 3, 32, 32)
    expected = stem(x)
    for name in ('stem1', 'stem2a', 'stem2b', 'stem3', 'stem4'):
        getattr(stem, name).switch_to_deploy()
    calls = _cat_calls(monkeypatch)
    out = stem(x)
    assert calls == [(16, 16)]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('hooked', ['stem3', 'stem3.conv'])
def test_a_hook_on_stem3_is_run(hooked, monkeypatch):
    """A forward hook on ``stem3`` or its conv runs in training: the stem
    then calls them on the concatenation, with the same values."""
    torch.manual_seed(0)
    stem = StemBlock(3, 16, 24, use_lab=True).double()
    reference = StemBlock(3, 16, 24, use_lab=True).double()
    reference.load_state_dict(stem.state_dict())
    calls = []
    stem.get_submodule(hooked).register_forward_hook(
        lambda module, args, out: calls.append(out.shape[1])
    )
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    cats = _cat_calls(monkeypatch)
    out = stem(x)
    assert calls == [16] and cats == [(16, 16)]
    torch.testing.assert_close(out, reference(x), rtol=1e-12, atol=1e-12)


def test_a_format_only_hook_keeps_the_split_convolution(monkeypatch):
    """The channels-last hook's pre-hook on every conv of a wrapped model
    changes only the format: the split convolution stays."""
    from dfine_mm.engine.hooks import channels_last_hook

    stem = StemBlock(3, 16, 24, use_lab=True)
    stem.stem3.conv.register_forward_pre_hook(
        channels_last_hook._channels_last_input
    )
    cats = _cat_calls(monkeypatch)
    stem(torch.randn(1, 3, 32, 32))
    assert cats == []
