"""The prediction branches of every FDR head, built in one place."""

from typing import Optional, Tuple

from mmcv.cnn import Linear
from torch import nn

from ..layers.dfine_lqe import DFineLQE
from ..layers.dfine_mlp import DFineMLP


def fdr_branches(
    embed_dims: int,
    cls_out_channels: int,
    num_layers: int,
    reg_max: int,
    lqe_cfg: dict,
    fdr: bool = True,
    mlp_act_cfg: Optional[dict] = None,
) -> Tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList, Optional[DFineMLP]]:
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
        mlp_act_cfg (dict, optional): Activation of the box MLPs; None is
            ReLU (D-FINE), SiLU is DEIM's ``mlp_act``.

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
        DFineMLP(embed_dims, embed_dims, num_out, 3, mlp_act_cfg)
        for _ in range(num_layers)
    )
    lqe_layers = nn.ModuleList(
        DFineLQE(reg_max, **lqe_cfg) for _ in range(num_layers if fdr else 0)
    )
    pre_reg_branch = None
    if fdr:
        pre_reg_branch = DFineMLP(embed_dims, embed_dims, 4, 3, mlp_act_cfg)
    return cls_branches, reg_branches, lqe_layers, pre_reg_branch


def query_selection_branches(
    embed_dims: int, cls_out_channels: int, mlp_act_cfg: Optional[dict] = None
) -> Tuple[Linear, DFineMLP]:
    """Scores (C -> K) and box offsets (C -> 4, activation
    ``mlp_act_cfg``) of the encoder positions from which a two-stage DETR
    selects its queries."""
    scores = Linear(embed_dims, cls_out_channels)
    return scores, DFineMLP(embed_dims, embed_dims, 4, 3, mlp_act_cfg)
