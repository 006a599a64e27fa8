"""Self-attention with queries equal to keys, as ``nn.MultiheadAttention``
computes it, without its sequence-first copies.

A batch-first ``nn.MultiheadAttention`` transposes its inputs to (N, B, C)
and projects those strided views, which ``F.linear`` turns into a matrix
product plus a separate bias addition per projection (and their backward
into strided products). D-FINE's decoder and AIFI layers attend with
``q = k = x + pos`` and ``v = x``: here the query and key projections are
one product on the contiguous (B, N, C) tokens, the value projection
another, and the attention runs on (B, H, N, C / H) views. The parameters
(``in_proj_weight`` rows q, k, v; ``out_proj``), and so the checkpoint keys,
are the base class's; measured in docs/benchmarks.md.

With a denoising mask on the CPU, the queries that see only the trailing
keys (D-FINE's matching queries, which do not see the denoising groups)
attend to those keys alone, without the mask: the same softmax over the
same keys, a (Q, Q) instead of a (Q, D + Q) product for them.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..utils.memory_format import capturing_graph


class DFineSelfAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` (always ``batch_first``) with a packed path
    for self-attention.

    The packed path runs when ``query is key``, no weights are asked for
    (``need_weights=False``), there is no key padding mask or causal flag,
    the mask (if any) is a bool (N, N) one, and the module has packed
    projections with biases and no extra key / value biases; any other call
    is the base class's. Module hooks see every call.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads; must divide C.
        dropout (float): Dropout on the attention weights. Defaults to 0.
    """

    def __init__(
        self, embed_dims: int, num_heads: int, dropout: float = 0.0
    ) -> None:
        super().__init__(embed_dims, num_heads, dropout, batch_first=True)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Optional[Tensor] = None,
        need_weights: bool = True,
        attn_mask: Optional[Tensor] = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Attend; the arguments and results are the base class's.

        Args:
            query (Tensor): Shape (B, N, C); queries and keys on the packed
                path (``key`` is the same tensor).
            key (Tensor): Shape (B, N, C).
            value (Tensor): Shape (B, N, C).
            key_padding_mask (Tensor, optional): See the base class.
            need_weights (bool): Also return the attention weights (the
                base class's path).
            attn_mask (Tensor, optional): Bool (N, N), True where attention
                is not allowed, or any mask the base class takes.
            average_attn_weights (bool): See the base class.
            is_causal (bool): See the base class.

        Returns:
            tuple[Tensor, Tensor | None]: The output, shape (B, N, C), and
            the weights (None on the packed path).
        """
        packed = (
            query is key
            and query.dim() == 3
            and key_padding_mask is None
            and not need_weights
            and not is_causal
            and (attn_mask is None or (attn_mask.dtype == torch.bool
                                       and attn_mask.dim() == 2))
            and self._qkv_same_embed_dim
            and self.in_proj_bias is not None
            and self.bias_k is None
            and not self.add_zero_attn
        )  # fmt: skip
        if not packed:
            return super().forward(
                query, key, value, key_padding_mask, need_weights,
                attn_mask, average_attn_weights, is_causal,
            )  # fmt: skip
        return self._packed(query, value, attn_mask), None

    def _packed(
        self, query_key: Tensor, value: Tensor, attn_mask: Optional[Tensor]
    ) -> Tensor:
        batch, num, dims = value.shape
        head_dims = dims // self.num_heads
        weight, bias = self.in_proj_weight, self.in_proj_bias
        qk = F.linear(query_key, weight[: 2 * dims], bias[: 2 * dims])
        v = F.linear(value, weight[2 * dims :], bias[2 * dims :])
        # (B, N, C) slices -> (B, H, N, C / H) views (slices, not an unbind,
        # which ONNX export would turn into a Split)
        q, k, v = (
            t.view(batch, num, self.num_heads, head_dims).transpose(1, 2)
            for t in (qk[..., :dims], qk[..., dims:], v)
        )
        dropout = self.dropout if self.training else 0.0
        start = trailing_block_start(attn_mask)
        if start:
            # rows start: see keys start: only; rows :start keep their mask
            lead = F.scaled_dot_product_attention(
                q[:, :, :start], k, v,
                attn_mask=~attn_mask[:start], dropout_p=dropout,
            )  # fmt: skip
            trail = F.scaled_dot_product_attention(
                q[:, :, start:], k[:, :, start:], v[:, :, start:],
                dropout_p=dropout,
            )  # fmt: skip
            out = torch.cat((lead.transpose(1, 2), trail.transpose(1, 2)), 1)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v,
                attn_mask=None if attn_mask is None else ~attn_mask,
                dropout_p=dropout,
            ).transpose(1, 2)  # fmt: skip
        return self.out_proj(out.reshape(batch, num, dims))


def trailing_block_start(attn_mask: Optional[Tensor]) -> int:
    """Where the trailing rows of a bool mask begin that see exactly the
    trailing keys, or 0 if there are none (or no mask, or a mask off the
    CPU or in a traced graph, where it is not read).

    Args:
        attn_mask (Tensor, optional): Bool (N, N), True where attention
            is not allowed.

    Returns:
        int: ``s`` in (0, N) such that ``attn_mask[s:, :s]`` is all True
        and ``attn_mask[s:, s:]`` all False (so rows ``s:`` attend to keys
        ``s:`` alone), else 0.
    """
    if (
        attn_mask is None
        or attn_mask.device.type != 'cpu'
        or attn_mask.numel() == 0
        or capturing_graph()
    ):
        return 0
    start = int(attn_mask[-1].sum())
    if not 0 < start < attn_mask.shape[-1]:
        return 0
    rows = attn_mask[start:]
    if rows[:, :start].all() and not rows[:, start:].any():
        return start
    return 0
