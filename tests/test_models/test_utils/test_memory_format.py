"""Memory-format changes: values kept, gradients back in the input's
format, the banded copy the same as PyTorch's."""

import pytest
import torch

from dfine_mm.models.utils import memory_format
from dfine_mm.models.utils.memory_format import (
    channels_first,
    channels_first_copy,
    dense_channels_last,
    to_memory_format,
)

CL = torch.channels_last


def channels_last_map(*shape: int, grad: bool = False) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(*shape).contiguous(memory_format=CL)
    return x.requires_grad_(grad)


@pytest.mark.parametrize('height', [64, 61])  # bands dividing H or not
def test_banded_copy_equals_contiguous(height):
    x = channels_last_map(2, 256, height, 70)
    assert x.numel() >= memory_format.MIN_BANDED_ELEMENTS  # banded
    out = channels_first_copy(x)
    assert out.is_contiguous() and torch.equal(out, x.contiguous())


def test_small_or_channels_first_maps_are_copied_plainly():
    x = channels_last_map(2, 8, 5, 5)
    assert torch.equal(channels_first_copy(x), x.contiguous())
    y = torch.randn(2, 3, 4, 4)
    assert channels_first_copy(y) is y


@pytest.mark.parametrize('source, target', [
    (CL, torch.contiguous_format),
    (torch.contiguous_format, CL),
])  # fmt: skip
def test_to_memory_format_gives_the_gradient_back_in_the_input_format(
    source, target
):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 40, 36, dtype=torch.float64)
    x = x.contiguous(memory_format=source).requires_grad_()
    y = to_memory_format(x, target)
    assert y.is_contiguous(memory_format=target) and torch.equal(y, x)
    weights = torch.randn(y.shape, dtype=torch.float64)
    (y * weights).sum().backward()
    assert x.grad.is_contiguous(memory_format=source)
    assert torch.equal(x.grad, weights)
    assert to_memory_format(y, target) is y  # already in that format


def test_channels_first_changes_only_channels_last_maps():
    x = channels_last_map(2, 256, 72, 72, grad=True)
    y = channels_first(x)
    assert y.is_contiguous() and torch.equal(y, x)
    upstream = torch.randn(y.shape)  # a channels-first consumer's gradient
    y.backward(upstream)
    assert x.grad.is_contiguous(memory_format=CL)
    assert torch.equal(x.grad, upstream)
    plain = torch.randn(2, 4, 3, 3)
    assert channels_first(plain) is plain
    assert channels_first(plain.transpose(2, 3)).data_ptr() == (
        plain.data_ptr()
    )  # neither format: left to the caller


def test_channels_first_is_a_no_op_while_tracing():
    """An exported graph keeps its ops: no copy is traced."""
    x = channels_last_map(1, 4, 6, 6)
    traced = torch.jit.trace(lambda t: channels_first(t) * 2, (x,))
    nodes = [n.kind() for n in traced.graph.nodes()]
    assert 'aten::contiguous' not in nodes and 'aten::copy_' not in nodes


def test_dense_channels_last_copies_only_strided_channels_last_maps(
    monkeypatch,
):
    whole = torch.randn(2, 8, 5, 7)
    first_channels_first = whole[:, :4]  # a slice, not channels-last
    assert dense_channels_last(first_channels_first) is first_channels_first
    dense = whole.contiguous(memory_format=CL)
    assert dense_channels_last(dense) is dense
    half = dense[:, 4:]
    assert not half.is_contiguous(memory_format=CL)
    copied = dense_channels_last(half)
    assert copied.is_contiguous(memory_format=CL)
    assert torch.equal(copied, half)
    # traced, scripted or compiled graphs keep the slice
    monkeypatch.setattr(memory_format, 'capturing_graph', lambda: True)
    assert dense_channels_last(half) is half
