"""The FDR head for mmdet's two-stage Deformable-DETR."""

from typing import Dict, List, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from ..utils.go_lsd import mean_over_processes, normalised_targets
from .dino_fdr_head import DINOFDRHead


@MODELS.register_module()
class DeformableDETRFDRHead(DINOFDRHead):
    """:class:`DINOFDRHead` with Deformable-DETR's proposal loss.

    mmdet's two-stage Deformable-DETR scores every encoder position with
    ``cls_branches[L]`` and picks the queries by the first class column;
    its proposal loss is class-agnostic (every ground truth labelled 0)
    over all S positions. This head keeps that loss (``enc_loss_*``, with
    its own matching) and leaves the proposals out of GO-LSD's union, whose
    query indices are those of the decoder. Everything else is
    :class:`DINOFDRHead`'s (D-FINE's branches, LQE and losses).

    Args:
        **kwargs: :class:`DINOFDRHead` arguments.
    """

    def loss(
        self,
        hidden_states: Tensor,
        references: Tensor,
        corners: Tensor,
        pre_references: Tensor,
        anchors: Tensor,
        fdr_params: Tuple[Tensor, Tensor],
        enc_outputs_class: Tensor,
        enc_outputs_coord: Tensor,
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """Training losses of a batch.

        Args:
            hidden_states (Tensor): (L, B, Q, C) decoder layer outputs.
            references (Tensor): (L, B, Q, 4) boxes, cxcywh normalised.
            corners (Tensor): (L, B, Q, 4 * (N + 1)) edge logits.
            pre_references (Tensor): (B, Q, 4) boxes of the layer-0 head.
            anchors (Tensor): (B, Q, 4) detached FDR anchors.
            fdr_params (tuple[Tensor]): The decoder's ``(up, reg_scale)``.
            enc_outputs_class (Tensor): (B, S, K) logits of every encoder
                position (column 0 is the proposal score).
            enc_outputs_coord (Tensor): (B, S, 4) their boxes, cxcywh.
            batch_data_samples (list[:obj:`DetDataSample`]): Ground truth
                and image metas.

        Returns:
            dict[str, Tensor]: :meth:`FDRLossMixin.fdr_loss`'s terms of the
            decoder, and ``enc_loss_cls``, ``enc_loss_bbox``,
            ``enc_loss_iou`` of the proposals.
        """
        losses = super().loss(
            hidden_states,
            references,
            corners,
            pre_references,
            anchors,
            fdr_params,
            None,
            None,
            batch_data_samples,
        )
        losses.update(
            self.proposal_loss(
                enc_outputs_class,
                enc_outputs_coord,
                [s.gt_instances for s in batch_data_samples],
                [s.metainfo for s in batch_data_samples],
            )
        )
        return losses

    def proposal_loss(
        self,
        scores: Tensor,
        boxes: Tensor,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
    ) -> Dict[str, Tensor]:
        """Class-agnostic loss of the encoder proposals.

        Args:
            scores (Tensor): (B, S, K) logits; the ground truth is labelled
                0.
            boxes (Tensor): (B, S, 4) boxes, cxcywh normalised.
            batch_gt_instances (list[:obj:`InstanceData`]): ``bboxes`` xyxy
                pixels and ``labels`` per image.
            batch_img_metas (list[dict]): With ``img_shape``.

        Returns:
            dict[str, Tensor]: ``enc_loss_cls``, ``enc_loss_bbox``,
            ``enc_loss_iou``.
        """
        agnostic = []
        for gt in batch_gt_instances:
            gt = gt.clone()
            gt.labels = torch.zeros_like(gt.labels)
            agnostic.append(gt)
        targets = normalised_targets(agnostic, batch_img_metas)
        match = self._match(scores, boxes, agnostic, batch_img_metas)
        num = mean_over_processes(
            sum(len(t['labels']) for t in targets), scores.device
        )
        losses = self._output_loss(
            scores, boxes, targets, match, match, num, num
        )
        return {'enc_' + name: value for name, value in losses.items()}
