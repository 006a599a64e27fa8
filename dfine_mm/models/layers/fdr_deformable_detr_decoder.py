"""mmdet's Deformable-DETR decoder with Fine-grained Distribution
Refinement."""

from typing import Dict, Optional

import torch
from mmdet.models.layers import DeformableDetrTransformerDecoder
from torch import Tensor, nn

from .fdr_decoder_mixin import FDRDecoderMixin


class FDRDeformableDetrTransformerDecoder(
    FDRDecoderMixin, DeformableDetrTransformerDecoder
):
    """Deformable-DETR's decoder whose layers refine edge distributions.

    Every layer runs as in mmdet's ``DeformableDetrTransformerDecoder``
    (the query positions of the two-stage proposals stay fixed,
    self-attention, deformable cross-attention around the current boxes,
    FFN; no output norm). The box update is FDR's, the same
    :func:`fdr_refine` as D-FINE's and DINO + FDR's decoders: layer 0 gives
    the anchors through the head's ``pre_reg_branch``, every layer adds
    residual edge-distribution logits. The decoder needs 4-d boxes, so the
    detector must be two-stage.

    Args:
        reg_max (int): N; edge distributions have N + 1 bins. Defaults to 32.
        reg_scale (float): c of the weighting function. Defaults to 4.
        up (float): a of the weighting function. Defaults to 0.5.
        eval_idx (int): Last layer run at inference (negative counts from
            the end). Defaults to -1.
        **kwargs: mmdet's ``DeformableDetrTransformerDecoder`` arguments
            (``num_layers``, ``layer_cfg``, ``return_intermediate``).
    """

    def __init__(
        self,
        *args,
        reg_max: int = 32,
        reg_scale: float = 4.0,
        up: float = 0.5,
        eval_idx: int = -1,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._init_fdr(reg_max, reg_scale, up, eval_idx)

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor,
        value: Tensor,
        key_padding_mask: Tensor,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        reg_branches: nn.ModuleList,
        pre_reg_branch: Optional[nn.Module] = None,
        **kwargs,
    ) -> Dict[str, Tensor]:
        """Decode the queries.

        Args:
            query (Tensor): Content queries (B, Q, C).
            query_pos (Tensor): Query positions (B, Q, C), fixed over the
                layers.
            value (Tensor): Encoder memory (B, S, C).
            key_padding_mask (Tensor): (B, S), True at padding.
            reference_points (Tensor): Initial boxes (B, Q, 4), cxcywh in
                [0, 1].
            spatial_shapes (Tensor): (L_f, 2) level sizes (h, w).
            level_start_index (Tensor): (L_f,) level offsets in S.
            valid_ratios (Tensor): (B, L_f, 2) unpadded fractions.
            reg_branches (nn.ModuleList): Distribution branches of the
                layers, (..., C) -> (..., 4 * (N + 1)).
            pre_reg_branch (nn.Module): Layer 0's classic branch,
                (..., C) -> (..., 4).

        Returns:
            dict: R = L in training, eval_idx + 1 in eval. ``hidden_states``
            (R, B, Q, C), ``references`` (R, B, Q, 4) boxes cxcywh,
            ``corners`` (R, B, Q, 4 * (N + 1)), ``pre_references`` and
            ``anchors`` (B, Q, 4).
        """
        if pre_reg_branch is None or reference_points.shape[-1] != 4:
            raise ValueError(
                'FDRDeformableDetrTransformerDecoder needs boxes as '
                "reference points and the head's pre_reg_branch: use the "
                'FDRDeformableDETR detector (as_two_stage=True) with '
                'FDRDeformableDETRHead'
            )
        ratios = torch.cat([valid_ratios, valid_ratios], -1)[:, None]

        def run_layer(index: int, query: Tensor, reference: Tensor):
            query = self.layers[index](
                query,
                query_pos=query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=reference[:, :, None] * ratios,
                **kwargs,
            )
            return query, query

        return self._fdr_decode(
            query, reference_points, run_layer, reg_branches, pre_reg_branch
        )
