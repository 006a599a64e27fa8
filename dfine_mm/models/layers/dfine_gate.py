"""The learned gate of a D-FINE decoder layer, after its cross-attention."""

import torch
from torch import Tensor, nn


class DFineGate(nn.Module):
    """Gated residual that replaces "add & norm" after cross-attention.

    ``[g1, g2] = sigmoid(Linear([x, y]))``; output ``LN(g1 * x + g2 * y)``.
    The linear layer starts at zero, so both gates start at 0.5.

    Args:
        embed_dims (int): Channels C.
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * embed_dims, 2 * embed_dims)
        self.norm = nn.LayerNorm(embed_dims)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, residual: Tensor, update: Tensor) -> Tensor:
        """Args: residual and update, shape (B, Q, C). Returns (B, Q, C)."""
        gates = torch.sigmoid(self.gate(torch.cat([residual, update], -1)))
        keep, take = gates.chunk(2, -1)
        return self.norm(keep * residual + take * update)
