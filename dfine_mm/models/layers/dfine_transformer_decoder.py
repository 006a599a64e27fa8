"""The D-FINE decoder: gated deformable layers with FDR box refinement."""

from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.settings import inject_setting
from .dfine_decoder_layer import DFineDecoderLayer
from .dfine_mlp import DFineMLP
from .fdr_decoder_mixin import FDRDecoderMixin


class DFineTransformerDecoder(FDRDecoderMixin, BaseModule):
    """Decoder of D-FINE with Fine-grained Distribution Refinement.

    Layer 0 refines the query-selection boxes the classic way (an MLP in
    inverse-sigmoid space, ``pre_reg_branch``); those boxes, detached, are
    the anchors of every layer. Layer i then predicts residual edge
    distribution logits on top of layer i-1's (:func:`fdr_refine`), and the
    next layer attends around layer i's (detached) boxes. The prediction
    branches belong to the head and are passed in, as mmdet's DINO decoder
    receives ``reg_branches``.

    In eval mode only layers up to ``eval_idx`` run;
    :func:`prune_for_inference` drops the later layers.

    With ``fdr=False`` the layers refine boxes the classic way instead
    (RT-DETR's decoder, the paper's ablation baseline): ``reg_branches``
    then give 4 offsets per layer and ``pre_reg_branch`` is not used.

    Args:
        num_layers (int): Decoder layers L. Defaults to 6.
        layer_cfg (dict): Keyword arguments of :class:`DFineDecoderLayer`.
        eval_idx (int): Layer whose output is used at inference; negative
            counts from the end. Defaults to -1.
        reg_max (int): N; edge distributions have N + 1 bins. Defaults to 32.
        reg_scale (float): c of the weighting function. Defaults to 4.
        up (float): a of the weighting function. Defaults to 0.5.
        fdr (bool): Fine-grained Distribution Refinement; False refines
            boxes directly. The detector sets it. Defaults to True.
        act_cfg (dict, optional): Activation of every layer's FFN (given
            to ``layer_cfg``) and, through the detector, of the head's
            LQE; None is ReLU (D-FINE), ``dict(type='SiLU')`` is DEIM's
            ``activation``.
        mlp_act_cfg (dict, optional): Activation of the query-position
            MLP and, through the detector, of the head's box MLPs; None is
            ReLU, ``dict(type='SiLU')`` is DEIM's ``mlp_act``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        num_layers: int = 6,
        layer_cfg: Optional[dict] = None,
        eval_idx: int = -1,
        reg_max: int = 32,
        reg_scale: float = 4.0,
        up: float = 0.5,
        fdr: bool = True,
        act_cfg: Optional[dict] = None,
        mlp_act_cfg: Optional[dict] = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fdr = fdr
        layer_cfg = dict(layer_cfg or {})
        if act_cfg is not None:
            layer_cfg = inject_setting(
                layer_cfg, 'act_cfg', act_cfg, 'DFineTransformerDecoder',
                'layer_cfg',
            )  # fmt: skip
        self.num_layers = num_layers
        self.layers = nn.ModuleList(
            DFineDecoderLayer(**layer_cfg) for _ in range(num_layers)
        )
        self.embed_dims = self.layers[0].norm1.normalized_shape[0]
        self.query_pos_head = DFineMLP(
            4, 2 * self.embed_dims, self.embed_dims, 2, mlp_act_cfg
        )
        self._init_fdr(reg_max, reg_scale, up, eval_idx)
        for layer in self.query_pos_head.layers:
            nn.init.xavier_uniform_(layer.weight)

    def init_weights(self) -> None:
        super().init_weights()
        for layer in self.query_pos_head.layers:
            nn.init.xavier_uniform_(layer.weight)

    def value_maps(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """The ``value`` argument of :meth:`forward`: the levels' features
        as the cross-attention samples them (every layer's attention
        reads the same maps).

        Args:
            feats (Sequence[Tensor]): Per level (B, C, H_l, W_l).

        Returns:
            list[Tensor]: :meth:`DFineMSDeformableAttention.
            feature_value_maps` of ``feats``.
        """
        return self.layers[0].cross_attn.feature_value_maps(feats)

    def forward(
        self,
        query: Tensor,
        reference_points: Tensor,
        value: Union[Tensor, Sequence[Tensor]],
        spatial_shapes: Sequence[Tuple[int, int]],
        reg_branches: nn.ModuleList,
        pre_reg_branch: Optional[nn.Module],
        attn_mask: Optional[Tensor] = None,
    ) -> Dict[str, Optional[Tensor]]:
        """Decode the queries.

        Args:
            query (Tensor): Initial content queries, shape (B, Q, C).
            reference_points (Tensor): Initial boxes, shape (B, Q, 4),
                cxcywh in [0, 1], detached.
            value (Tensor | Sequence[Tensor]): Encoder memory, shape
                (B, S, C), or its per-level maps (B * M, C / M, h, w) (see
                :meth:`DFineMSDeformableAttention.feature_value_maps`).
            spatial_shapes (Sequence[tuple[int, int]]): (h, w) per level.
            reg_branches (nn.ModuleList): One distribution branch per layer,
                (..., C) -> (..., 4 * (N + 1)).
            pre_reg_branch (nn.Module, optional): Layer 0's classic box
                branch, (..., C) -> (..., 4); None with ``fdr=False``.
            attn_mask (Tensor, optional): Bool (Q, Q) self-attention mask,
                True where not allowed. Defaults to None.

        Returns:
            dict: With R = L in training and eval_idx + 1 in eval:

            - hidden_states (Tensor): (R, B, Q, C) layer outputs.
            - references (Tensor): (R, B, Q, 4) boxes per layer, cxcywh.
            - corners (Tensor): (R, B, Q, 4 * (N + 1)) distribution logits.
            - pre_references (Tensor): (B, Q, 4) layer 0's classic boxes.
            - anchors (Tensor): (B, Q, 4) the detached FDR anchors.

            With ``fdr=False`` the last three are None.
        """
        maps = value
        if isinstance(value, Tensor):
            # every layer samples the same memory: split it into maps once
            cross_attn = self.layers[0].cross_attn
            maps = cross_attn.split_value(value, spatial_shapes)

        def run_layer(index: int, query: Tensor, reference: Tensor):
            query_pos = self.query_pos_head(reference).clamp(-10, 10)
            query = self.layers[index](
                query, query_pos, reference, maps, spatial_shapes, attn_mask
            )
            return query, query

        if not self.fdr:
            return self._box_decode(
                query, reference_points, run_layer, reg_branches
            )
        return self._fdr_decode(
            query, reference_points, run_layer, reg_branches, pre_reg_branch
        )
