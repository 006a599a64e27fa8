"""HGNetV2's learnable affine block, and its ReLU before it as one autograd
node.

Recorded op by op, ``scale * relu(x) + bias`` has autograd multiply the
gradient by ``scale``, multiply it by the ReLU output and sum that product
(the scale's gradient), sum the gradient (the bias' gradient) and mask it
(the ReLU's backward): seven reads and three writes of a full map. This
node's backward takes the scale's gradient as a dot product of the two maps,
with no product map written, and masks and scales the input's gradient in
two passes: six reads and two writes. The backbone's 30 such blocks of
D-FINE-S hold 118 MiB of maps per step at batch 2, 640x640
(docs/benchmarks.md).

With the batch norm before it (training, on the CPU, a positive scale),
the node takes the norm too. Forward, the scale and bias go into the
norm's affine map and the ReLU becomes a clamp at the bias (one pass fewer;
only the output is kept, which the next layer keeps anyway, instead of a
separate ReLU map). Backward, since the norm's backward is linear in its
output's gradient and scales it by the norm's weight, the scale goes into
that weight, and the scale's gradient comes from the norm's per-channel
weight and bias gradients: neither the dot product nor the scaling pass
is left, three reads and one write besides the norm's own backward.
"""

import torch
from torch import Tensor, nn

from ..utils.memory_format import capturing_graph, is_channels_last
from ..utils.module_hooks import runs_hooks


class LearnableAffineBlock(nn.Module):
    """Scalar affine map ``y = scale * x + bias`` with learnable scalars.

    Args:
        scale_value (float): Initial scale. Defaults to 1.0.
        bias_value (float): Initial bias. Defaults to 0.0.
    """

    def __init__(self, scale_value: float = 1.0, bias_value: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([scale_value]))
        self.bias = nn.Parameter(torch.tensor([bias_value]))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.bias, x, self.scale)


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
        ctx.bias_shape = bias.shape
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
            grad_bias = grad.sum().reshape(ctx.bias_shape)
        return grad_x, grad_scale, grad_bias


def _records(*tensors: Tensor) -> bool:
    """Whether autograd records an operation on ``tensors``."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _scalar_affine(x: Tensor, scale: Tensor, bias: Tensor) -> bool:
    """Whether ``scale`` and ``bias`` are one-element tensors of ``x``'s
    dtype, as the nodes below take them."""
    return (
        scale.numel() == 1
        and bias.numel() == 1
        and x.dtype == scale.dtype == bias.dtype
    )


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
    if (
        _records(x, scale, bias)
        and not capturing_graph()
        and _scalar_affine(x, scale, bias)
    ):
        return _ReLUAffine.apply(x, scale, bias)
    return torch.addcmul(bias, torch.relu_(x), scale)


class _NormReLUAffine(torch.autograd.Function):
    """``scale * relu(batch_norm(x)) + bias`` in training, for a positive
    one-element ``scale`` and a one-element ``bias`` (``bias_value`` its
    value); the norm's running statistics are updated.

    Forward, the affine block goes into the norm's affine map and the ReLU
    becomes a clamp at the bias (``s * relu(z) + b == max(s * z + b, b)``
    for ``s > 0``, as the deploy form folds it): one pass fewer, and only
    the output is kept for the backward pass, which the next convolution
    keeps anyway. Backward, the norm's backward gets the masked gradient
    with the scale in its weight (it is linear in its output's gradient),
    and the scale's gradient comes from the norm's per-channel gradients.
    """

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        weight: Tensor,
        norm_bias: Tensor,
        scale: Tensor,
        bias: Tensor,
        bias_value: float,
        running_mean: Tensor,
        running_var: Tensor,
        momentum: float,
        eps: float,
    ) -> Tensor:
        out, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
            x, weight * scale, torch.addcmul(bias.view(1), norm_bias, scale),
            running_mean, running_var, True, momentum, eps,
        )  # fmt: skip
        out = out.clamp_min_(bias_value)
        ctx.save_for_backward(
            x, weight, norm_bias, scale, out, save_mean, save_invstd
        )
        ctx.eps, ctx.bias_value, ctx.bias_shape = eps, bias_value, bias.shape
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight, norm_bias, scale, out, mean, invstd = ctx.saved_tensors
        grad_bias = None
        if ctx.needs_input_grad[4]:  # the bias moves every element
            grad_bias = grad.sum().reshape(ctx.bias_shape)
        # the ReLU's mask: where the output is above the clamp
        masked = torch.ops.aten.threshold_backward(grad, out, ctx.bias_value)
        # dense in the input's format for the norm's fast backward (no copy
        # when it already is)
        masked = masked.contiguous(
            memory_format=torch.channels_last
            if is_channels_last(x)
            else torch.contiguous_format
        )
        # the norm's backward on the unscaled gradient, the scale in its
        # weight: its input gradient is exact, its weight and bias
        # gradients are the unscaled ones
        grad_x, grad_w, grad_b = torch.ops.aten.native_batch_norm_backward(
            masked, x, weight * scale, None, None, mean, invstd, True,
            ctx.eps, [ctx.needs_input_grad[0], True, True],
        )  # fmt: skip
        # d loss / d scale = sum(grad * relu(z)), z = weight * x_hat + b_n
        #                  = sum over channels (weight * grad_w + b_n * grad_b)
        grad_scale = (weight * grad_w + norm_bias * grad_b).sum()
        return (
            grad_x,
            grad_w * scale,
            grad_b * scale,
            grad_scale.reshape(scale.shape),
            grad_bias,
            None,
            None,
            None,
            None,
            None,
        )


def _fusable_norm(x: Tensor, norm: nn.Module) -> bool:
    """Whether ``norm`` can run inside :class:`_NormReLUAffine`: a plain
    training ``nn.BatchNorm2d`` with running statistics whose call would
    run no hook (:func:`runs_hooks`), on a CPU map of its dtype with more
    than one value per channel."""
    return (
        type(norm) is nn.BatchNorm2d
        and norm.training
        and norm.affine
        and norm.track_running_stats
        and not runs_hooks(norm)
        and x.device.type == 'cpu'
        and x.dim() == 4
        and x.dtype == norm.weight.dtype
        and x.numel() > x.size(1)
    )


def norm_relu_affine(
    x: Tensor, norm: nn.Module, scale: Tensor, bias: Tensor
) -> Tensor:
    """``scale * relu(norm(x)) + bias``: a batch norm, then HGNetV2's
    activation with its learnable affine block.

    A plain ``nn.BatchNorm2d`` training on the CPU under autograd (and no
    graph being traced or compiled), with a positive scale, runs inside the
    node with both backward passes; its running statistics and batch count
    are updated as the module does. Any other case calls ``norm`` (with its
    hooks), then :func:`relu_affine`. Values and gradients agree to
    rounding: the node computes ``max(s * z + b, b)`` with the scale
    folded into the norm's affine map.

    Args:
        x (Tensor): Shape (B, C, H, W).
        norm (nn.Module): The batch norm over C channels.
        scale (Tensor): Shape (1,).
        bias (Tensor): Shape (1,).

    Returns:
        Tensor: Shape (B, C, H, W).
    """
    if (
        not capturing_graph()
        and _records(x, norm.weight, scale, bias)
        and _fusable_norm(x, norm)
        and _scalar_affine(x, scale, bias)
        and scale.item() > 0  # CPU tensors: no synchronisation
    ):
        norm.num_batches_tracked.add_(1)
        momentum = norm.momentum
        if momentum is None:  # a cumulative average, as the module's
            momentum = 1.0 / float(norm.num_batches_tracked)
        return _NormReLUAffine.apply(
            x, norm.weight, norm.bias, scale, bias, bias.item(),
            norm.running_mean, norm.running_var, momentum, norm.eps,
        )  # fmt: skip
    return relu_affine(norm(x), scale, bias)
