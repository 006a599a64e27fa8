"""mmdet's two-stage Deformable-DETR with D-FINE's FDR decoder, head and
GO-LSD losses."""

from typing import Dict

from mmdet.models.detectors import DeformableDETR
from mmdet.registry import MODELS
from torch import Tensor, nn

from ..layers.fdr_deformable_detr_decoder import (
    FDRDeformableDetrTransformerDecoder,
)
from .fdr_detector_mixin import FDRDetectorMixin


@MODELS.register_module()
@MODELS.register_module(name='DeformableDETRFDR')  # the old name
class FDRDeformableDETR(FDRDetectorMixin, DeformableDETR):
    """Deformable-DETR (mmdet, box refinement + two-stage) with Fine-grained
    Distribution Refinement and GO-LSD.

    Relative to mmdet's ``deformable-detr-refine-twostage`` config, set
    ``type='FDRDeformableDETR'``, the head to
    :class:`FDRDeformableDETRHead` and optionally the FDR keys of the
    decoder (``reg_max``, ``reg_scale``, ``up``, ``eval_idx``). The decoder
    becomes :class:`FDRDeformableDetrTransformerDecoder`; query selection
    and its class-agnostic proposal loss stay mmdet's.

    Args:
        with_box_refine (bool): Must be True (one distribution branch per
            decoder layer).
        as_two_stage (bool): Must be True (FDR refines boxes; the
            single-stage variant starts from points).
        **kwargs: mmdet's ``DeformableDETR`` arguments.

    Raises:
        ValueError: At build time, without ``with_box_refine`` and
            ``as_two_stage``, when the head is not an FDR head, or when head
            and decoder disagree on ``reg_max`` or ``eval_idx``.
    """

    fdr_decoder_type = FDRDeformableDetrTransformerDecoder
    fdr_head_type = 'FDRDeformableDETRHead'

    def __init__(
        self,
        *args,
        with_box_refine: bool = False,
        as_two_stage: bool = False,
        **kwargs,
    ) -> None:
        if not (with_box_refine and as_two_stage):
            raise ValueError(
                f'{type(self).__name__} needs with_box_refine=True and '
                'as_two_stage=True (got with_box_refine='
                f'{with_box_refine}, as_two_stage={as_two_stage}); inherit '
                "mmdet's deformable_detr/deformable-detr-refine-twostage_"
                'r50_16xb2-50e_coco.py'
            )
        super().__init__(
            *args, with_box_refine=True, as_two_stage=True, **kwargs
        )

    def _init_query_layers(self) -> None:
        """The two-stage proposal layers: encoder-memory projection and the
        query positions from the proposals."""
        dims = self.embed_dims
        self.memory_trans_fc = nn.Linear(dims, dims)
        self.memory_trans_norm = nn.LayerNorm(dims)
        self.pos_trans_fc = nn.Linear(dims * 2, dims * 2)
        self.pos_trans_norm = nn.LayerNorm(dims * 2)

    def forward_decoder(
        self,
        query: Tensor,
        query_pos: Tensor,
        memory: Tensor,
        memory_mask: Tensor,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
    ) -> Dict:
        """Run the FDR decoder with the head's branches.

        Args:
            query (Tensor): Queries (B, Q, C).
            query_pos (Tensor): Their position embedding (B, Q, C).
            memory (Tensor): Encoder output (B, S, C).
            memory_mask (Tensor): Bool (B, S), True at padding.
            reference_points (Tensor): Initial boxes (B, Q, 4), cxcywh
                normalised to [0, 1].
            spatial_shapes (Tensor): (H_l, W_l) per level, (L, 2).
            level_start_index (Tensor): Each level's first position, (L,).
            valid_ratios (Tensor): Unpadded share of each level (B, L, 2).

        Returns:
            dict: ``hidden_states``, ``references`` (boxes of each layer,
            cxcywh) and ``corners``; in training also ``pre_references``,
            ``anchors`` and ``fdr_params``.
        """
        out = self.decoder(
            query=query,
            query_pos=query_pos,
            value=memory,
            key_padding_mask=memory_mask,
            reference_points=reference_points,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            reg_branches=self.bbox_head.reg_branches,
            pre_reg_branch=self.bbox_head.pre_reg_branch,
        )
        return self._fdr_outputs(out)
