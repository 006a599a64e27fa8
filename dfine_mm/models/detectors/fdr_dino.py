"""mmdet's DINO with D-FINE's FDR decoder, head and GO-LSD losses."""

from typing import Dict, Optional, Tuple

import torch
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from torch import Tensor, nn

from ..layers.fdr_dino_decoder import FDRDinoTransformerDecoder
from ..utils.query_selection import gather_rows, index_rows
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

    def pre_decoder(
        self,
        memory: Tensor,
        memory_mask: Optional[Tensor],
        spatial_shapes: Tensor,
        batch_data_samples: OptSampleList = None,
    ) -> Tuple[Dict, Dict]:
        """DINO's query selection (mmdet's ``DINO.pre_decoder``), with the
        encoder's box branch run on the Q kept positions only.

        mmdet runs the encoder's box branch (an MLP) on all S memory
        positions and keeps Q of them; it runs here on the kept rows. In
        training the projection (``memory_trans_fc`` + ``memory_trans_norm``)
        and the classifier also run on all rows without autograd, only to
        rank them, and again with autograd on the kept rows: the other rows
        feed nothing but the ranking, so the backward pass and the
        activations kept for it shrink to Q / S. The same positions are
        kept; values and gradients agree up to the order of floating-point
        sums.

        Args:
            memory (Tensor): (B, S, C) encoder output.
            memory_mask (Tensor, optional): (B, S) bool, True at padding.
            spatial_shapes (Tensor): (L, 2) each level's (h, w).
            batch_data_samples (list[DetDataSample], optional): Ground
                truth for the denoising queries (training).

        Returns:
            tuple[dict]: The decoder's inputs (``query`` (B, D + Q, C),
            ``memory``, ``reference_points`` (B, D + Q, 4) cxcywh in
            [0, 1], ``dn_mask``) and, in training, the head's
            (``enc_outputs_class`` (B, Q, K), ``enc_outputs_coord``
            (B, Q, 4) cxcywh in [0, 1], ``dn_meta``).
        """
        classify = self.bbox_head.cls_branches[self.decoder.num_layers]
        regress = self.bbox_head.reg_branches[self.decoder.num_layers]
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and not self.training
        ):
            # anchors: logits of cxcywh, inf at padding and invalid ones
            projected, anchors = self.gen_encoder_output_proposals(
                memory, memory_mask, spatial_shapes
            )
            logits = classify(projected)
        index = logits.max(-1).values.topk(self.num_queries, dim=1)[1]
        anchors = gather_rows(anchors, index)
        if self.training:  # the kept rows again, with autograd
            valid = torch.isfinite(anchors).all(-1, keepdim=True)
            rows = index_rows(memory, index).masked_fill(~valid, 0.0)
            selected = self.memory_trans_norm(self.memory_trans_fc(rows))
            topk_score = classify(selected)
        else:
            selected = gather_rows(projected, index)
        topk_coords_unact = regress(selected) + anchors
        query = self.query_embedding.weight[None].expand(len(memory), -1, -1)
        reference_points = topk_coords_unact.detach()
        dn_mask = dn_meta = None
        if self.training:
            dn_query, dn_boxes, dn_mask, dn_meta = self.dn_query_generator(
                batch_data_samples
            )
            query = torch.cat([dn_query, query], dim=1)
            reference_points = torch.cat([dn_boxes, reference_points], 1)
        decoder_inputs = dict(
            query=query,
            memory=memory,
            reference_points=reference_points.sigmoid(),
            dn_mask=dn_mask,
        )
        if not self.training:
            return decoder_inputs, dict()
        head_inputs = dict(
            enc_outputs_class=topk_score,
            enc_outputs_coord=topk_coords_unact.sigmoid(),
            dn_meta=dn_meta,
        )
        return decoder_inputs, head_inputs

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

        Args:
            query (Tensor): Queries (B, Q, C), denoising queries first.
            memory, memory_mask, reference_points, spatial_shapes,
            level_start_index, valid_ratios (Tensor): As in
                :meth:`FDRDeformableDETR.forward_decoder` (Q queries).
            dn_mask (Tensor, optional): Bool (Q, Q) self-attention mask,
                True where attention is blocked (denoising groups).
            **kwargs: Passed to the decoder.

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
