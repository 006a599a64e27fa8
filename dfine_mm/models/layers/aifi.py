"""AIFI: the intra-scale transformer encoder of the D-FINE hybrid encoder.

Re-implemented from the description of the AIFI encoder in D-FINE /
RT-DETR (https://github.com/Peterande/D-FINE, Apache-2.0). Parameter names
(``layers.{i}.self_attn.in_proj_weight``, ``linear1``, ``linear2``,
``norm1``, ``norm2``) equal the official ones.

Deviation from upstream (see :func:`sincos_position_embedding_2d`): on
non-square maps the position embedding orders positions row-major, as
transformers' D-FINE does; upstream mixes rows and columns there.
Square maps, the only ones upstream trains on, are identical.
"""

from typing import Dict, Optional, Tuple

import torch
from mmdet.utils import ConfigType
from torch import Tensor, nn

from .aifi_encoder_layer import AIFIEncoderLayer

# Multi-scale training visits about a dozen sizes; more distinct sizes than
# this empty the cache instead of letting it grow without bound.
_MAX_CACHED_POS_EMBEDS = 32


def sincos_position_embedding_2d(
    height: int,
    width: int,
    embed_dims: int,
    temperature: float = 10000.0,
    device: Optional[torch.device] = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Fixed 2-D sine-cosine position embedding of an ``height x width`` map.

    With ``d = embed_dims // 4`` and ``omega_k = temperature ** (-k / d)``,
    the token at row ``r``, column ``c`` (tokens in row-major order,
    ``index = r * width + c``) gets::

        [sin(r * omega), cos(r * omega), sin(c * omega), cos(c * omega)]

    i.e. the first half of the channels encodes the row, the second half
    the column. Computed in float32 like upstream, then cast to ``dtype``.

    On square maps this is exactly upstream's embedding. On non-square maps
    upstream mixes rows and columns up; this function orders positions
    row-major there, as transformers' D-FINE does (a deliberate
    difference).

    Args:
        height (int): Map height H.
        width (int): Map width W.
        embed_dims (int): Channels C, divisible by 4.
        temperature (float): Frequency base. Defaults to 10000.
        device (torch.device, optional): Output device. Defaults to None
            (the default device).
        dtype (torch.dtype): Output dtype. Defaults to torch.float32.

    Returns:
        Tensor: Shape (1, H * W, C).
    """
    if embed_dims % 4:
        raise ValueError(
            f'embed_dims must be divisible by 4 for the 2-D sin-cos '
            f'position embedding, got {embed_dims}'
        )
    # NOTE: upstream builds its grid with ``meshgrid(arange(w), arange(h),
    # indexing='ij')`` but flattens the tokens row-major: that is this
    # layout on square maps and a scrambled (but fixed) one on non-square
    # maps. We order positions row-major on every map, like transformers'
    # D-FINE; only non-square inputs, which upstream never trains on, see
    # the difference.
    quarter = embed_dims // 4
    exponent = torch.arange(quarter, dtype=torch.float32, device=device)
    omega = 1.0 / temperature ** (exponent / quarter)  # (C/4,)
    rows = torch.arange(height, dtype=torch.float32, device=device)
    cols = torch.arange(width, dtype=torch.float32, device=device)
    row_angles = (rows[:, None] * omega[None]).unsqueeze(1)  # (H, 1, C/4)
    col_angles = (cols[:, None] * omega[None]).unsqueeze(0)  # (1, W, C/4)
    shape = (height, width, quarter)
    embed = torch.cat(
        (
            row_angles.sin().expand(shape),
            row_angles.cos().expand(shape),
            col_angles.sin().expand(shape),
            col_angles.cos().expand(shape),
        ),
        dim=-1,
    )  # (H, W, C)
    return embed.reshape(1, -1, embed_dims).to(dtype)


class AIFIEncoder(nn.Module):
    """A stack of :class:`AIFIEncoderLayer` applied to one feature map.

    The sin-cos position embedding is computed for the actual map size and
    cached per (H, W, device, dtype) in a plain attribute (never in the
    state dict), so nothing is tied to a training resolution.

    Args:
        num_layers (int): Number of layers (0 makes this the identity).
        embed_dims (int): Channels C, divisible by 4 and by ``num_heads``.
        num_heads (int): Attention heads.
        feedforward_channels (int): FFN hidden width.
        act_cfg (:obj:`ConfigDict` or dict): FFN activation (D-FINE:
            ``dict(type='GELU')``).
        dropout (float): Dropout. Defaults to 0.0.
        temperature (float): Position embedding temperature. Defaults to
            10000.
    """

    def __init__(
        self,
        num_layers: int,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        act_cfg: ConfigType,
        dropout: float = 0.0,
        temperature: float = 10000.0,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.temperature = temperature
        self.layers = nn.ModuleList(
            AIFIEncoderLayer(
                embed_dims,
                num_heads,
                feedforward_channels,
                act_cfg,
                dropout=dropout,
            )
            for _ in range(num_layers)
        )
        self._pos_embed_cache: Dict[
            Tuple[int, int, torch.device, torch.dtype], Tensor
        ] = {}

    def get_pos_embed(
        self,
        height: int,
        width: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Tensor:
        """Return the position embedding of an H x W map, cached.

        While tracing (ONNX export) or compiling (``torch.compile``)
        nothing is cached: the embedding is recorded from the traced shapes,
        and a compiled graph does not depend on the cache's contents (which
        would compile it again once the cache fills).

        Args:
            height (int): Map height H.
            width (int): Map width W.
            device (torch.device): Device of the embedding.
            dtype (torch.dtype): Dtype of the embedding.

        Returns:
            Tensor: Shape (1, H * W, C).
        """
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return sincos_position_embedding_2d(
                height, width, self.embed_dims, self.temperature, device, dtype
            )
        key = (height, width, device, dtype)
        pos_embed = self._pos_embed_cache.get(key)
        if pos_embed is None:
            if len(self._pos_embed_cache) >= _MAX_CACHED_POS_EMBEDS:
                self._pos_embed_cache.clear()
            pos_embed = sincos_position_embedding_2d(
                height, width, self.embed_dims, self.temperature, device, dtype
            )
            self._pos_embed_cache[key] = pos_embed
        return pos_embed

    def forward(self, x: Tensor) -> Tensor:
        """Encode a feature map.

        Args:
            x (Tensor): Shape (B, C, H, W).

        Returns:
            Tensor: Shape (B, C, H, W), contiguous.
        """
        if len(self.layers) == 0:
            return x
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, H * W, C)
        pos_embed = self.get_pos_embed(height, width, x.device, x.dtype)
        for layer in self.layers:
            tokens = layer(tokens, pos_embed)
        return (
            tokens.transpose(1, 2)
            .reshape(batch, channels, height, width)
            .contiguous()
        )
