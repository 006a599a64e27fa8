"""mmdet's MLP with a configurable activation."""

from typing import Optional

from mmcv.cnn import build_activation_layer
from mmdet.models.layers.transformer.utils import MLP
from torch import Tensor


class DFineMLP(MLP):
    """mmdet's ``MLP`` (``layers``: ``num_layers`` linears) with the
    activation between them set by ``act_cfg``: ReLU as mmdet's (D-FINE),
    or e.g. SiLU (DEIM's ``mlp_act`` / ``activation``).

    Args:
        input_dim (int): Input channels.
        hidden_dim (int): Hidden channels.
        output_dim (int): Output channels.
        num_layers (int): Number of linear layers.
        act_cfg (dict, optional): mmcv activation config; None is ReLU.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        act_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(input_dim, hidden_dim, output_dim, num_layers)
        self.act = build_activation_layer(dict(act_cfg or dict(type='ReLU')))

    def forward(self, x: Tensor) -> Tensor:
        """(..., input_dim) -> (..., output_dim)."""
        last = self.num_layers - 1
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < last:
                x = self.act(x)
        return x
