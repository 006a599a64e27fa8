"""mmdet's DINO with D-FINE's FDR decoder, head and GO-LSD losses."""

from typing import Dict, Optional

from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from torch import Tensor, nn

from ..layers.fdr_dino_decoder import FDRDinoTransformerDecoder
from .fdr_detector_mixin import FDRDetectorMixin


@MODELS.register_module()
@MODELS.register_module(name='DINOFDR')  # the old name
class FDRDINO(FDRDetectorMixin, DINO):
    """DINO (mmdet) with Fine-grained Distribution Refinement and GO-LSD.

    Relative to mmdet's DINO config, set ``type='FDRDINO'``, the head to
    :class:`FDRDINOHead` and optionally the FDR keys of the decoder
    (``reg_max``, ``reg_scale``, ``up``, ``eval_idx``); the rest of the
    DINO config (backbone, encoder, decoder layers, denoising, matching)
    stays. The decoder becomes :class:`FDRDinoTransformerDecoder`.

    Raises:
        ValueError: At build time, when the head is not an FDR head, when
            head and decoder disagree on ``reg_max`` or ``eval_idx``, or
            without ``with_box_refine`` / ``as_two_stage`` (DINO's own
            assertion).
    """

    fdr_decoder_type = FDRDinoTransformerDecoder
    fdr_head_type = 'FDRDINOHead'

    def _init_query_layers(self) -> None:
        """DINO's content queries and encoder-memory projection."""
        self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims)
        self.memory_trans_fc = nn.Linear(self.embed_dims, self.embed_dims)
        self.memory_trans_norm = nn.LayerNorm(self.embed_dims)

    def forward_decoder(
        self,
        query: Tensor,
        memory: Tensor,
        memory_mask: Tensor,
        reference_points: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        valid_ratios: Tensor,
        dn_mask: Optional[Tensor] = None,
        **kwargs,
    ) -> Dict:
        """Run the FDR decoder with the head's branches.

        Returns:
            dict: ``hidden_states``, ``references`` (boxes of each layer,
            cxcywh) and ``corners``; in training also ``pre_references``,
            ``anchors`` and ``fdr_params``.
        """
        out = self.decoder(
            query=query,
            value=memory,
            key_padding_mask=memory_mask,
            self_attn_mask=dn_mask,
            reference_points=reference_points,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            reg_branches=self.bbox_head.reg_branches,
            pre_reg_branch=self.bbox_head.pre_reg_branch,
            **kwargs,
        )
        return self._fdr_outputs(out)
