"""mmdet's DINO with D-FINE's FDR decoder, head and GO-LSD losses."""

from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from torch import Tensor

from ..layers.fdr_dino_decoder import FDRDinoTransformerDecoder
from .fdr_detector_mixin import FDRDetectorMixin


def dn_positive_indices(
    dn_meta: Dict, batch_data_samples: SampleList
) -> List[Tensor]:
    """Per image, the denoising queries of its ground truths (group-major),
    in the layout of mmdet's ``CdnQueryGenerator`` (each group holds
    ``max_num_target`` positive then as many negative queries)."""
    groups = dn_meta['num_denoising_groups']
    group_size = dn_meta['num_denoising_queries'] // groups
    indices = []
    for sample in batch_data_samples:
        count = len(sample.gt_instances)
        starts = torch.arange(groups)[:, None] * group_size
        indices.append((starts + torch.arange(count)[None]).flatten())
    return indices


@MODELS.register_module()
class DINOFDR(FDRDetectorMixin, DINO):
    """DINO (mmdet) with Fine-grained Distribution Refinement and GO-LSD.

    Relative to mmdet's DINO config, set ``type='DINOFDR'``, the head to
    :class:`DINOFDRHead` and optionally the FDR keys of the decoder
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
    fdr_head_type = 'DINOFDRHead'

    def pre_decoder(
        self,
        memory: Tensor,
        memory_mask: Tensor,
        spatial_shapes: Tensor,
        batch_data_samples: OptSampleList = None,
    ) -> Tuple[Dict, Dict]:
        """DINO's query selection; the denoising metadata gains the
        positive query indices the FDR losses pair with ground truth."""
        decoder_inputs, head_inputs = super().pre_decoder(
            memory, memory_mask, spatial_shapes, batch_data_samples
        )
        dn_meta = head_inputs.get('dn_meta')
        if self.training and dn_meta:
            dn_meta['positive_indices'] = dn_positive_indices(
                dn_meta, batch_data_samples
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
        if self.training and query.shape[1] == self.num_queries:
            # no denoising queries (no ground truth in the batch): keep the
            # label embedding in the graph for distributed training
            embedding = self.dn_query_generator.label_embedding.weight
            out['pre_references'] = (
                out['pre_references'] + embedding[0, 0] * 0.0
            )
        return self._fdr_outputs(out)
