"""conv_of_cat: a convolution of a channel concatenation, part by part."""

import pytest
import torch
from torch import nn

from dfine_mm.models.layers.conv_norm_layer import (
    centred_conv,
    conv_like,
    conv_of_cat,
)


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('kernel,stride', [(3, 2), (1, 1)])
def test_the_parts_give_the_concatenations_values_and_gradients(
    channels_last, kernel, stride
):
    torch.manual_seed(0)
    conv = nn.Conv2d(
        12, 5, kernel, stride, (kernel - 1) // 2, bias=False
    ).double()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    parts = [
        torch.randn(2, c, 9, 9, dtype=torch.float64)
        .contiguous(memory_format=fmt)
        .requires_grad_()
        for c in (3, 7, 2)
    ]
    out = conv_of_cat(conv, parts)
    expected = conv(torch.cat(parts, 1))
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    grads = torch.autograd.grad(out, [*parts, conv.weight], grad)
    wanted = torch.autograd.grad(expected, [*parts, conv.weight], grad)
    for got, want in zip(grads, wanted):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # each part's gradient is dense, not a slice of a concatenated one
    assert all(g.is_contiguous(memory_format=fmt) for g in grads[:3])
    assert not any(g.is_contiguous(memory_format=fmt) for g in wanted[1:3])


def test_mismatched_parts_and_convs_are_refused():
    conv = nn.Conv2d(6, 4, 3, padding=1, bias=False)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r'\[3, 2\] channels, 5 in all'):
        conv_of_cat(conv, [x, x[:, :2]])
    for bad in (
        nn.Conv2d(6, 4, 3, padding=1),
        nn.Conv2d(6, 4, 3, padding=1, groups=2, bias=False),
        nn.Conv2d(6, 4, 3, padding=1, bias=False, padding_mode='reflect'),
    ):
        with pytest.raises(ValueError, match='bias-free one-group conv'):
            conv_of_cat(bad, [x, x])


def test_conv_like_keeps_the_geometry_and_holds_the_tensors():
    conv = nn.Conv2d(8, 6, 3, stride=2, padding=1, groups=2, bias=False)
    conv = conv.double()
    weight = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    bias = torch.randn(6, dtype=torch.float64)
    fused = conv_like(conv, weight, bias)
    assert (fused.stride, fused.padding, fused.groups) == ((2, 2), (1, 1), 2)
    assert fused.weight.dtype == torch.float64
    assert torch.equal(fused.weight, weight)
    assert torch.equal(fused.bias, bias)
    x = torch.randn(1, 8, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(
        fused(x), nn.functional.conv2d(x, weight, bias, 2, 1, 1, 2)
    )


@pytest.mark.parametrize('kernel_size, padding', [(1, 0), (3, 1), (4, 1)])
def test_centred_conv_pads_and_has_no_bias(kernel_size, padding):
    conv = centred_conv(4, 6, kernel_size, stride=2, groups=2)
    assert conv.padding == (padding, padding)
    assert conv.stride == (2, 2) and conv.groups == 2
    assert conv.bias is None
    assert conv.weight.shape == (6, 2, kernel_size, kernel_size)
