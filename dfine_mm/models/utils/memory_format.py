"""Memory-format changes of feature maps that keep CPU training fast.

PyTorch's CPU copy of a large channels-last map into the channels-first
(contiguous) format runs several times slower than the opposite copy
(docs/benchmarks.md: 11-13 ms against 2.4-2.9 ms for a (2, 256, 80, 80)
map, 2 threads); copied a band of rows at a time it takes about 3 ms.
"""

import torch
from torch import Tensor

#: elements of one band of rows in :func:`channels_first_copy` (their
#: source and destination stay in the core's cache)
BAND_ELEMENTS = 1 << 17
#: maps below this size are copied in one go (no slower that way)
MIN_BANDED_ELEMENTS = 1 << 21


def is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` is a 4-D map dense in channels-last format (and not
    also contiguous, as maps with one channel or one pixel are)."""
    return (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    )


def channels_first_copy(x: Tensor) -> Tensor:
    """``x.contiguous()`` for a 4-D map, copied in bands of rows when it is
    a large channels-last map on the CPU (the same values, faster).

    Args:
        x (Tensor): Shape (B, C, H, W), any memory format.

    Returns:
        Tensor: The same values in the contiguous (channels-first) format,
        ``x`` itself when it already is.
    """
    if (
        x.device.type != 'cpu'
        or x.numel() < MIN_BANDED_ELEMENTS
        or not is_channels_last(x)
    ):
        return x.contiguous()
    batch, channels, height, width = x.shape
    rows = max(1, BAND_ELEMENTS // (batch * channels * width))
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    for top in range(0, height, rows):
        out[:, :, top : top + rows].copy_(x[:, :, top : top + rows])
    return out


def dense_channels_last(x: Tensor) -> Tensor:
    """A strided channels-last CPU map (e.g. a channel slice of a
    channels-last map) copied dense in channels-last format; any other
    tensor unchanged.

    Convolutions read such a slice at about half their rate on dense
    inputs (docs/benchmarks.md). The values are unchanged; the gradient
    flows back through the copy.

    Args:
        x (Tensor): Shape (B, C, H, W).

    Returns:
        Tensor: Shape (B, C, H, W).
    """
    if (
        x.device.type != 'cpu'
        or x.dim() != 4
        or capturing_graph()
        or x.stride(1) != 1  # channels are not innermost: not channels-last
        or x.is_contiguous(memory_format=torch.channels_last)
    ):
        return x
    return x.contiguous(memory_format=torch.channels_last)


def capturing_graph() -> bool:
    """Whether the code runs to be traced, scripted or compiled (where
    memory formats are left to the graph)."""
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
    )


def _to_format(x: Tensor, memory_format: torch.memory_format) -> Tensor:
    """``x`` dense in ``memory_format`` (channels-first through
    :func:`channels_first_copy`)."""
    if memory_format == torch.contiguous_format:
        return channels_first_copy(x)
    return x.contiguous(memory_format=memory_format)


class _FormatChange(torch.autograd.Function):
    """Identity in value; the output dense in a memory format, the
    gradient given back dense in the input's format."""

    @staticmethod
    def forward(ctx, x: Tensor, memory_format: torch.memory_format):
        ctx.input_format = (
            torch.channels_last
            if is_channels_last(x)
            else torch.contiguous_format
        )
        return _to_format(x, memory_format)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return _to_format(grad, ctx.input_format), None


def to_memory_format(x: Tensor, memory_format: torch.memory_format) -> Tensor:
    """``x`` dense in ``memory_format`` (a copy unless it already is), with
    its gradient given back dense in ``x``'s own format (channels-last or
    contiguous), so that the layers before it get the gradient in the
    format they compute in.

    Changes only the memory format, never a value. Traced, scripted or
    compiled graphs get a plain ``contiguous`` call.

    Args:
        x (Tensor): Shape (B, C, H, W).
        memory_format (torch.memory_format): ``torch.contiguous_format``
            or ``torch.channels_last``.

    Returns:
        Tensor: Shape (B, C, H, W), dense in ``memory_format``.
    """
    if capturing_graph():
        return x.contiguous(memory_format=memory_format)
    if x.is_contiguous(memory_format=memory_format):
        return x
    return _FormatChange.apply(x, memory_format)


def channels_first(x: Tensor) -> Tensor:
    """A channels-last CPU map in the channels-first format (and its
    gradient back in channels-last); any other tensor unchanged.

    For layers that need channels-first maps (e.g. the deformable
    attention's value maps) downstream of channels-last convolutions
    (``DFineChannelsLastHook``). The gradient given back in channels-last
    format is also what the other consumers of ``x`` give it: mixed-format
    gradients are summed about 20x slower (docs/benchmarks.md).

    Args:
        x (Tensor): Any tensor; a 4-D one may be (B, C, H, W).

    Returns:
        Tensor: ``x``, or its channels-first copy.
    """
    if x.device.type != 'cpu' or not is_channels_last(x) or capturing_graph():
        return x  # (an exported graph stays as it was)
    return to_memory_format(x, torch.contiguous_format)
