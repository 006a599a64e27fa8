"""SiLU in place only where autograd does not record it."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GradAwareSiLU(nn.SiLU):
    """SiLU computed in place when autograd does not record it, out of place
    when it does.

    SiLU's backward pass needs its input, so an in-place SiLU under autograd
    has PyTorch copy the input first: out of place, the hybrid encoder's
    SiLUs take about half the time in a CPU training step
    (docs/benchmarks.md); without autograd (inference) in place saves an
    allocation. The values are the same either way. The hybrid encoder's
    fusion blocks use it.
    """

    def __init__(self) -> None:
        super().__init__(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        """SiLU of ``x`` (any shape); ``x`` itself is overwritten when
        autograd does not record the call."""
        recorded = torch.is_grad_enabled() and x.requires_grad
        return F.silu(x, inplace=not recorded)
