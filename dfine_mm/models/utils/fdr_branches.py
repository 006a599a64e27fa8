"""The prediction branches of every FDR head, built in one place."""

from typing import Optional, Tuple

from mmcv.cnn import Linear
from mmdet.models.layers.transformer.utils import MLP
from torch import nn

from ..layers.dfine_lqe import DFineLQE


def fdr_branches(
    embed_dims: int,
    cls_out_channels: int,
    num_layers: int,
    reg_max: int,
    lqe_cfg: dict,
    fdr: bool = True,
) -> Tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList, Optional[MLP]]:
    """The per-layer branches of an FDR head.

    Args:
        embed_dims (int): Channels C of the decoder outputs.
        cls_out_channels (int): Class logits per query.
        num_layers (int): Decoder layers L.
        reg_max (int): N; each edge distribution has N + 1 bins.
        lqe_cfg (dict): :class:`DFineLQE` arguments other than
            ``reg_max``.
        fdr (bool): Edge distributions; False gives the plain box branches
            of the paper's baseline (4 offsets, no LQE, no layer-0 branch).

    Returns:
        tuple: ``cls_branches`` (L linears C -> K), ``reg_branches``
        (L three-layer MLPs C -> 4 * (N + 1), or C -> 4 without FDR),
        ``lqe_layers`` (L, empty without FDR) and ``pre_reg_branch`` (MLP
        C -> 4, layer 0's classic refinement; None without FDR).
    """
    num_out = 4 * (reg_max + 1) if fdr else 4
    cls_branches = nn.ModuleList(
        Linear(embed_dims, cls_out_channels) for _ in range(num_layers)
    )
    reg_branches = nn.ModuleList(
        MLP(embed_dims, embed_dims, num_out, 3) for _ in range(num_layers)
    )
    lqe_layers = nn.ModuleList(
        DFineLQE(reg_max, **lqe_cfg) for _ in range(num_layers if fdr else 0)
    )
    pre_reg_branch = MLP(embed_dims, embed_dims, 4, 3) if fdr else None
    return cls_branches, reg_branches, lqe_layers, pre_reg_branch


def query_selection_branches(
    embed_dims: int, cls_out_channels: int
) -> Tuple[Linear, MLP]:
    """Scores (C -> K) and box offsets (C -> 4) of the encoder positions
    from which a two-stage DETR selects its queries."""
    return Linear(embed_dims, cls_out_channels), MLP(
        embed_dims, embed_dims, 4, 3
    )
