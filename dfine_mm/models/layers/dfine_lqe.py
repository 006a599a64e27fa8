"""Location Quality Estimator (LQE) of D-FINE."""

from typing import Optional

import torch
from torch import Tensor, nn

from .dfine_mlp import DFineMLP


class DFineLQE(nn.Module):
    """Adds a localisation-quality term to the class logits.

    The top-k probabilities of each edge distribution and their mean
    (4 * (k + 1) numbers per query) go through a small MLP; its scalar output
    is added to every class logit of the query. Sharp distributions (a
    confident box) raise the score. The MLP's last layer starts at zero.

    Args:
        reg_max (int): N; the distributions have N + 1 bins. Defaults to 32.
        topk (int): Probabilities kept per edge. Defaults to 4.
        hidden_dim (int): Hidden channels of the MLP. Defaults to 64.
        num_layers (int): Layers of the MLP. Defaults to 2.
        act_cfg (dict, optional): The MLP's activation; None is ReLU
            (D-FINE), SiLU is DEIM's ``activation``.
    """

    def __init__(
        self,
        reg_max: int = 32,
        topk: int = 4,
        hidden_dim: int = 64,
        num_layers: int = 2,
        act_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.topk = topk
        self.reg_conf = DFineMLP(
            4 * (topk + 1), hidden_dim, 1, num_layers, act_cfg
        )
        nn.init.zeros_(self.reg_conf.layers[-1].weight)
        nn.init.zeros_(self.reg_conf.layers[-1].bias)

    def forward(self, scores: Tensor, corners: Tensor) -> Tensor:
        """Refine class logits with the box quality.

        Args:
            scores (Tensor): Class logits, shape (B, Q, K).
            corners (Tensor): Edge distribution logits, shape
                (B, Q, 4 * (N + 1)).

        Returns:
            Tensor: Logits, shape (B, Q, K).
        """
        batch, num_queries, _ = corners.shape
        probs = corners.reshape(batch, num_queries, 4, self.reg_max + 1)
        top = probs.softmax(-1).topk(self.topk, dim=-1).values
        stats = torch.cat([top, top.mean(-1, keepdim=True)], -1)
        stats = stats.view(batch, num_queries, -1)  # (B, Q, 4 * (k + 1))
        return scores + self.reg_conf(stats)
