"""ReLU followed by HGNetV2's learnable affine block, as one autograd node.

Recorded op by op, ``scale * relu(x) + bias`` has autograd multiply the
gradient by ``scale``, multiply it by the ReLU output and sum that product
(the scale's gradient), sum the gradient (the bias' gradient) and mask it
(the ReLU's backward): seven reads and three writes of a full map. This
node's backward takes the scale's gradient as a dot product of the two maps,
with no product map written, and masks and scales the input's gradient in
two passes: six reads and two writes. The backbone's 30 such blocks of
D-FINE-S hold 118 MiB of maps per step at batch 2, 640x640
(docs/benchmarks.md).
"""

import torch
from torch import Tensor

from ..utils.memory_format import capturing_graph, is_channels_last


def _flat_dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum()`` without the product map, when both tensors are
    laid out alike in one dense block (contiguous or channels-last)."""
    if a.is_contiguous() and b.is_contiguous():
        return torch.dot(a.view(-1), b.view(-1))
    if is_channels_last(a) and is_channels_last(b):
        return torch.dot(
            a.permute(0, 2, 3, 1).reshape(-1),  # a view: no copy
            b.permute(0, 2, 3, 1).reshape(-1),
        )
    return (a * b).sum()


class _ReLUAffine(torch.autograd.Function):
    """``scale * relu(x) + bias`` with one-element ``scale`` and ``bias``."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
        relu_out = torch.relu(x)
        ctx.save_for_backward(relu_out, scale)
        return torch.addcmul(bias, relu_out, scale)

    @staticmethod
    def backward(ctx, grad: Tensor):
        relu_out, scale = ctx.saved_tensors
        grad_x = grad_scale = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.threshold_backward(grad, relu_out, 0)
            grad_x.mul_(scale)
        if ctx.needs_input_grad[1]:
            grad_scale = _flat_dot(grad, relu_out).reshape(scale.shape)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum().reshape(scale.shape)
        return grad_x, grad_scale, grad_bias


def relu_affine(x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    """``scale * relu(x) + bias``, HGNetV2's activation with its learnable
    affine block.

    Under autograd (and when no graph is being traced or compiled) the
    whole map is one node with a leaner backward; otherwise the ReLU runs
    in place on ``x`` followed by one ``addcmul``. The values are the same
    either way; the scale's gradient is summed in another order.

    Args:
        x (Tensor): Any shape, e.g. (B, C, H, W).
        scale (Tensor): Shape (1,).
        bias (Tensor): Shape (1,).

    Returns:
        Tensor: Shape of ``x``.
    """
    recorded = torch.is_grad_enabled() and (
        x.requires_grad or scale.requires_grad or bias.requires_grad
    )
    if (
        recorded
        and not capturing_graph()
        and scale.numel() == 1
        and bias.numel() == 1
        and x.dtype == scale.dtype == bias.dtype
    ):
        return _ReLUAffine.apply(x, scale, bias)
    return torch.addcmul(bias, torch.relu_(x), scale)
