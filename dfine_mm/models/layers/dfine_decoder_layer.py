"""One D-FINE decoder layer: self-attention, deformable cross-attention with
a learned gate, FFN; post-norm."""

from typing import Optional, Sequence, Tuple, Union

from mmcv.cnn import build_activation_layer
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from .dfine_gate import DFineGate
from .dfine_ms_deform_attn import DFineMSDeformableAttention
from .dfine_self_attention import DFineSelfAttention


class DFineDecoderLayer(BaseModule):
    """D-FINE decoder layer.

    1. ``x = LN1(x + SelfAttn(q=k=x+pos, v=x, mask))``
    2. ``x = Gate(x, MSDeformAttn(x + pos, reference boxes, memory))``
    3. ``x = LN3(clamp(x + FFN(x), -65504, 65504))`` (fp16-range guard)

    Submodule names follow the official checkpoints (``self_attn``,
    ``norm1``, ``cross_attn``, ``gateway``, ``linear1``, ``linear2``,
    ``norm3``).

    Args:
        embed_dims (int): Channels C. Defaults to 256.
        num_heads (int): Heads of both attentions. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 1024.
        num_points (Sequence[int]): Deformable points per level. Defaults
            to (3, 6, 3).
        cross_attn_method (str): 'default' or 'discrete'. Defaults to
            'default'.
        dropout (float): Dropout after attention and in the FFN. Defaults
            to 0.
        act_cfg (dict, optional): The FFN's activation; None is ReLU
            (D-FINE), SiLU is DEIM's ``activation``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_heads: int = 8,
        feedforward_channels: int = 1024,
        num_points: Sequence[int] = (3, 6, 3),
        cross_attn_method: str = 'default',
        dropout: float = 0.0,
        act_cfg: Optional[dict] = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.self_attn = DFineSelfAttention(embed_dims, num_heads, dropout)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.cross_attn = DFineMSDeformableAttention(
            embed_dims, num_heads, num_points, method=cross_attn_method
        )
        self.gateway = DFineGate(embed_dims)
        self.linear1 = nn.Linear(embed_dims, feedforward_channels)
        self.linear2 = nn.Linear(feedforward_channels, embed_dims)
        self.norm3 = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.activation = build_activation_layer(
            dict(act_cfg or dict(type='ReLU'))
        )
        self._init_ffn()

    def _init_ffn(self) -> None:
        nn.init.xavier_uniform_(self.linear1.weight)
        nn.init.xavier_uniform_(self.linear2.weight)

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor,
        reference_points: Tensor,
        value: Union[Tensor, Sequence[Tensor]],
        spatial_shapes: Sequence[Tuple[int, int]],
        attn_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """Run the layer.

        Args:
            query (Tensor): Shape (B, Q, C).
            query_pos (Tensor): Position embedding of the reference boxes,
                shape (B, Q, C).
            reference_points (Tensor): Shape (B, Q, 4), cxcywh in [0, 1].
            value (Tensor | Sequence[Tensor]): Encoder memory, shape
                (B, S, C), or the cross-attention's ``split_value`` maps.
            spatial_shapes (Sequence[tuple[int, int]]): (h, w) per level.
            attn_mask (Tensor, optional): Bool (Q, Q), True where attention
                is not allowed (denoising groups). Defaults to None.

        Returns:
            Tensor: Shape (B, Q, C).
        """
        with_pos = query + query_pos
        attn, _ = self.self_attn(
            with_pos, with_pos, query, attn_mask=attn_mask, need_weights=False
        )
        query = self.norm1(query + self.dropout(attn))
        cross = self.cross_attn(
            query + query_pos, reference_points, value, spatial_shapes
        )
        query = self.gateway(query, self.dropout(cross))
        ffn = self.linear2(self.dropout(self.activation(self.linear1(query))))
        query = query + self.dropout(ffn)
        return self.norm3(query.clamp(min=-65504, max=65504))
