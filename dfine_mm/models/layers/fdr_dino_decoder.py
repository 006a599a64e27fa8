"""mmdet's DINO decoder with Fine-grained Distribution Refinement."""

from typing import Dict, Optional

import torch
from mmdet.models.layers import DinoTransformerDecoder
from mmdet.models.layers.transformer.utils import coordinate_to_encoding
from torch import Tensor, nn

from .fdr_decoder_mixin import FDRDecoderMixin


class FDRDinoTransformerDecoder(FDRDecoderMixin, DinoTransformerDecoder):
    """DINO's decoder whose layers refine edge distributions (FDR).

    Every layer runs as in mmdet's ``DinoTransformerDecoder`` (sine query
    positions from the current boxes, self-attention, deformable
    cross-attention, FFN). The box update differs: instead of
    ``sigmoid(reg(q) + inverse_sigmoid(ref))``, layer 0 gives the classic
    refinement once (the FDR anchors, via the head's ``pre_reg_branch``) and
    every layer adds residual logits to four edge distributions
    (``corners_i = reg_i(q_i + q_{i-1}) + corners_{i-1}``), whose integrals
    over the weighting function W(n) move the anchor's edges (the same
    :func:`fdr_refine` as D-FINE's decoder). The head's branches see the
    normalised layer outputs, as mmdet's DINO head does.

    Args:
        reg_max (int): N; edge distributions have N + 1 bins. Defaults to 32.
        reg_scale (float): c of the weighting function. Defaults to 4.
        up (float): a of the weighting function. Defaults to 0.5.
        eval_idx (int): Last layer run at inference (negative counts from
            the end). Defaults to -1.
        **kwargs: mmdet's ``DinoTransformerDecoder`` arguments
            (``num_layers``, ``layer_cfg``, ``post_norm_cfg``,
            ``return_intermediate``).
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
        value: Tensor,
        key_padding_mask: Tensor,
        self_attn_mask: Optional[Tensor],
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
            value (Tensor): Encoder memory (B, S, C).
            key_padding_mask (Tensor): (B, S), True at padding.
            self_attn_mask (Tensor, optional): (Q, Q) denoising mask.
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
            (R, B, Q, C) normalised outputs, ``references`` (R, B, Q, 4)
            boxes cxcywh, ``corners`` (R, B, Q, 4 * (N + 1)),
            ``pre_references`` and ``anchors`` (B, Q, 4).
        """
        if pre_reg_branch is None:
            raise ValueError(
                "FDRDinoTransformerDecoder needs the head's pre_reg_branch; "
                'use an FDR head (e.g. FDRDINOHead) with the FDRDINO detector'
            )
        ratios = torch.cat([valid_ratios, valid_ratios], -1)[:, None]

        def run_layer(index: int, query: Tensor, reference: Tensor):
            sample_points = reference[:, :, None] * ratios
            query_pos = self.ref_point_head(
                coordinate_to_encoding(sample_points[:, :, 0, :])
            )
            query = self.layers[index](
                query,
                query_pos=query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                self_attn_mask=self_attn_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=sample_points,
                **kwargs,
            )
            return query, self.norm(query)

        return self._fdr_decode(
            query, reference_points, run_layer, reg_branches, pre_reg_branch
        )
