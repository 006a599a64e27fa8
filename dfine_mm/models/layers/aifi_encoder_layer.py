"""One layer of the AIFI encoder (see :mod:`.aifi`): post-norm
self-attention and FFN. Parameter names equal the official ones."""

from mmcv.cnn import build_activation_layer
from mmdet.utils import ConfigType
from torch import Tensor, nn

from .dfine_self_attention import DFineSelfAttention


class AIFIEncoderLayer(nn.Module):
    """Post-norm transformer encoder layer; the position embedding is added
    to queries and keys only.

    Args:
        embed_dims (int): Token channels C.
        num_heads (int): Attention heads; must divide C.
        feedforward_channels (int): Hidden width of the FFN.
        act_cfg (:obj:`ConfigDict` or dict): FFN activation (D-FINE:
            ``dict(type='GELU')``).
        dropout (float): Dropout of attention, FFN and residuals.
            Defaults to 0.0.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        act_cfg: ConfigType,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.self_attn = DFineSelfAttention(embed_dims, num_heads, dropout)
        self.linear1 = nn.Linear(embed_dims, feedforward_channels)
        self.activation = build_activation_layer(act_cfg)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(feedforward_channels, embed_dims)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos_embed: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x (Tensor): Tokens, shape (B, N, C).
            pos_embed (Tensor): Position embedding, shape (1, N, C) or
                (B, N, C).

        Returns:
            Tensor: Shape (B, N, C).
        """
        query_key = x + pos_embed
        attn = self.self_attn(query_key, query_key, x, need_weights=False)[0]
        x = self.norm1(x + self.dropout1(attn))
        ffn = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.norm2(x + self.dropout2(ffn))
