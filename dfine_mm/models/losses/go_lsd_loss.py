"""FDR + GO-LSD training losses, shared by every head that predicts edge
distributions (D-FINE, DINO+FDR, Deformable-DETR+FDR)."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.task_modules import BaseAssigner
from mmdet.registry import TASK_UTILS
from mmdet.utils import InstanceList
from torch import Tensor, nn

from ..utils import go_lsd_union
from ..utils.fdr import FDRParams
from ..utils.go_lsd import (
    aligned_iou,
    box_cxcywh_to_xyxy,
    classification_losses,
    ddf_balance,
    dn_positive_pairs,
    fgl_targets,
    hungarian_match,
    hungarian_matches,
    mean_over_processes,
    narrow_head,
    normalised_targets,
    stacked_index,
)
from ..utils.matched_pairs import MatchedPairs, matched_pairs


@TASK_UTILS.register_module()
class DFineGOLSDLoss:
    """GO-LSD losses (D-FINE, arXiv 2410.13842 §3.3) of a DETR head.

    Every output (decoder layers, the layer-0 head, the encoder proposals)
    is matched to the ground truth on its own with ``self.assigner``
    (Hungarian). The classification loss of an output uses its own
    matching; with ``union_matching`` the box losses (L1, GIoU) and the
    distribution losses (FGL, DDF) of every output use the union of all
    matchings (each query keeps its most frequent ground truth). DDF
    distils the last layer's distributions into the earlier layers.
    Denoising outputs use the fixed denoising pairs.

    Normalisers are averaged over processes: the number of ground truths
    (classification) and the number of union pairs (boxes, FGL); the
    denoising ones multiply the former by the number of groups.

    The head builds it from its own (already built) loss modules and
    assigner; it holds no parameters.

    Args:
        num_classes (int): K.
        reg_max (int): N; edge distributions have N + 1 bins.
        assigner (BaseAssigner, optional): mmdet's ``HungarianAssigner``.
        loss_cls (nn.Module): An IoU-aware loss (``iou_aware = True``, e.g.
            :class:`DFineVarifocalLoss`, given IoU targets and the
            matched-class mask), or a mmdet loss taking labels such as
            ``FocalLoss``.
        loss_bbox (nn.Module): L1 on cxcywh boxes.
        loss_iou (nn.Module): GIoU on xyxy boxes.
        loss_fgl (nn.Module, optional): FGL; None leaves it out.
        loss_ddf (nn.Module, optional): DDF; None leaves it out.
        union_matching (bool): Box and distribution losses use the union of
            all outputs' matchings. Defaults to True.
    """

    def __init__(
        self,
        num_classes: int,
        reg_max: int,
        assigner: Optional[BaseAssigner],
        loss_cls: nn.Module,
        loss_bbox: nn.Module,
        loss_iou: nn.Module,
        loss_fgl: Optional[nn.Module] = None,
        loss_ddf: Optional[nn.Module] = None,
        union_matching: bool = True,
    ) -> None:
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.assigner = assigner
        self.loss_cls = loss_cls
        self.loss_bbox = loss_bbox
        self.loss_iou = loss_iou
        self.loss_fgl = loss_fgl
        self.loss_ddf = loss_ddf
        self.union_matching = union_matching

    def __call__(
        self,
        layers_scores: Tensor,
        layers_boxes: Tensor,
        layers_corners: Optional[Tensor],
        anchors: Optional[Tensor],
        pre_scores: Optional[Tensor],
        pre_boxes: Optional[Tensor],
        enc_scores: Optional[Tensor],
        enc_boxes: Optional[Tensor],
        fdr_params: Optional[FDRParams],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        dn_meta: Optional[Dict] = None,
    ) -> Dict[str, Tensor]:
        """All loss terms of a training batch.

        Queries Q' = D + Q: D denoising queries first (D = 0 without
        denoising), then the Q matching ones.

        Args:
            layers_scores (Tensor): (L, B, Q', K) class logits per layer.
            layers_boxes (Tensor): (L, B, Q', 4) boxes, cxcywh normalised.
            layers_corners (Tensor): (L, B, Q', 4 * (N + 1)) edge logits.
            anchors (Tensor): (B, Q', 4) FDR anchors (layer 0's boxes,
                detached), cxcywh.
            pre_scores (Tensor): (B, Q', K) logits of the layer-0 head.
            pre_boxes (Tensor): (B, Q', 4) boxes of the layer-0 head.
            enc_scores (Tensor, optional): (B, Q, K) logits of the encoder
                proposals.
            enc_boxes (Tensor, optional): (B, Q, 4) their boxes.
            fdr_params (:class:`FDRParams`): The decoder's a, c and W(n).
                Without edge distributions (a head with ``fdr=False``)
                ``layers_corners``, ``anchors``, ``pre_scores``,
                ``pre_boxes`` and ``fdr_params`` are None: no FGL, DDF or
                ``pre_`` terms.
            batch_gt_instances (list[:obj:`InstanceData`]): ``bboxes`` xyxy
                pixels and ``labels`` per image.
            batch_img_metas (list[dict]): With ``img_shape``.
            dn_meta (dict, optional): From the denoising generator
                (``num_denoising_queries``, ``num_denoising_groups``).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou``,
            ``loss_fgl`` (last layer); ``d{i}.loss_*`` (+ ``loss_ddf``) for
            layer i < L - 1; ``pre_loss_*``; ``enc_loss_*``; ``dn_*``,
            ``d{i}.dn_*`` and ``dn_pre_*`` with denoising.
        """
        targets = normalised_targets(batch_gt_instances, batch_img_metas)
        num_dn = dn_meta['num_denoising_queries'] if dn_meta else 0
        layers = len(layers_scores)
        device = layers_scores.device
        num_gts = sum(len(t['labels']) for t in targets)
        num_cls = mean_over_processes(num_gts, device)
        # matching part: own matchings, then their union
        scores = layers_scores[:, :, num_dn:]
        boxes = layers_boxes[:, :, num_dn:]
        pre_s = None if pre_scores is None else pre_scores[:, num_dn:]
        pre_b = None if pre_boxes is None else pre_boxes[:, num_dn:]
        # every output's costs in one computation
        *own, own_pre, own_enc = hungarian_matches(
            self.assigner,
            [
                *zip(scores, boxes),
                None if pre_s is None else (pre_s, pre_b),
                None if enc_scores is None else (enc_scores, enc_boxes),
            ],
            batch_gt_instances,
            batch_img_metas,
        )
        union = None
        if self.union_matching:
            everything = [own[-1], *own[:-1], own_pre, own_enc]
            union = go_lsd_union([m for m in everything if m is not None])
        # each matching's pairs and ground truth gathered once: every
        # output sharing a matching (all of them for the union) reuses them
        own, own_pre, own_enc, union = (
            [matched_pairs(targets, m) for m in own],
            *(None if m is None else matched_pairs(targets, m)
              for m in (own_pre, own_enc, union)),
        )  # fmt: skip
        if union is not None:
            num_box = mean_over_processes(len(union.query), device)
            box_matches = [union] * layers
            pre_box, enc_box = union, union
        else:
            num_box = num_cls
            box_matches, pre_box, enc_box = own, own_pre, own_enc

        corners = fdr_targets = balances = None
        if layers_corners is not None:
            corners = layers_corners[:, :, num_dn:]
            # FGL targets and DDF's balance belong to a layer's box pairs:
            # computed once for the union (every layer shares it), per
            # layer without it
            distinct = 1 if self.union_matching else layers
            fdr_targets = [
                fgl_targets(anchors[:, num_dn:], pairs, self.reg_max,
                            fdr_params)
                for pairs in box_matches[:distinct]
            ] * (layers // distinct)  # fmt: skip
            balances = [
                ddf_balance(pairs, scores.shape[1:3])
                for pairs in box_matches[:distinct]
            ] * (layers // distinct)  # fmt: skip
        names = [f'd{i}.' for i in range(layers - 1)] + ['']
        terms = self.outputs_loss(
            scores, boxes, own, box_matches, num_cls, num_box, corners,
            fdr_targets, balances,
        )  # fmt: skip
        for prefix, out_scores, out_boxes, cls_pairs, box_pairs in (
            ('pre_', pre_s, pre_b, own_pre, pre_box),
            ('enc_', enc_scores, enc_boxes, own_enc, enc_box),
        ):
            if cls_pairs is not None:
                names.append(prefix)
                terms += self.outputs_loss(
                    out_scores[None], out_boxes[None], [cls_pairs],
                    [box_pairs], num_cls, num_box,
                )  # fmt: skip
        losses = {
            prefix + name: value
            for prefix, output_terms in zip(names, terms)
            for name, value in output_terms.items()
        }
        if num_dn:
            losses.update(
                self._dn_loss(
                    layers_scores[:, :, :num_dn],
                    layers_boxes[:, :, :num_dn],
                    narrow_head(layers_corners, num_dn, 2),
                    narrow_head(anchors, num_dn, 1),
                    narrow_head(pre_scores, num_dn, 1),
                    narrow_head(pre_boxes, num_dn, 1),
                    targets,
                    dn_meta,
                    num_cls,
                    balances[-2] if balances and layers > 1 else None,
                    fdr_params,
                )
            )
        return losses

    def _dn_loss(
        self,
        scores: Tensor,
        boxes: Tensor,
        corners: Optional[Tensor],
        anchors: Optional[Tensor],
        pre_scores: Optional[Tensor],
        pre_boxes: Optional[Tensor],
        targets: List[Dict[str, Tensor]],
        dn_meta: Dict,
        num_cls: float,
        balance: Optional[Tuple[float, float]],
        fdr_params: Optional[FDRParams],
    ) -> Dict[str, Tensor]:
        """Losses of the denoising queries: fixed pairs, every layer (the
        distribution and ``pre_`` inputs are None without FDR; DDF with a
        ``balance``)."""
        matches = matched_pairs(targets, dn_positive_pairs(dn_meta, targets))
        num = num_cls * dn_meta['num_denoising_groups']
        layers = len(scores)
        fdr_targets = balances = None
        if corners is not None:
            fdr_targets = [
                fgl_targets(anchors, matches, self.reg_max, fdr_params)
            ] * layers
        if balance is not None:
            balances = [balance] * layers
        terms = self.outputs_loss(
            scores, boxes, [matches] * layers, [matches] * layers, num, num,
            corners, fdr_targets, balances,
        )  # fmt: skip
        names = [f'd{i}.dn_' for i in range(layers - 1)] + ['dn_']
        if pre_scores is not None:
            names.append('dn_pre_')
            terms += self.outputs_loss(
                pre_scores[None], pre_boxes[None], [matches], [matches], num,
                num,
            )  # fmt: skip
        return {
            prefix + name: value
            for prefix, output_terms in zip(names, terms)
            for name, value in output_terms.items()
        }

    def outputs_loss(
        self,
        scores: Tensor,
        boxes: Tensor,
        cls_pairs: Sequence[MatchedPairs],
        box_pairs: Sequence[MatchedPairs],
        num_cls: float,
        num_box: float,
        corners: Optional[Tensor] = None,
        fdr_targets: Optional[Sequence[Tuple[Tensor, ...]]] = None,
        balances: Optional[Sequence[Tuple[float, float]]] = None,
    ) -> List[Dict[str, Tensor]]:
        """Loss terms of O stacked outputs (e.g. the decoder layers), each
        from its own loss module calls; their inputs (gathered boxes, IoUs,
        targets) are built for all outputs at once.

        Args:
            scores (Tensor): (O, B, Q, K) logits.
            boxes (Tensor): (O, B, Q, 4) boxes, cxcywh normalised.
            cls_pairs (Sequence[:class:`MatchedPairs`]): Per output, its
                pairs for classification.
            box_pairs (Sequence[:class:`MatchedPairs`]): Per output, its
                pairs for L1, GIoU, FGL and DDF.
            num_cls (float): Classification normaliser.
            num_box (float): Box normaliser.
            corners (Tensor, optional): (O, B, Q, 4 * (N + 1)) edge logits;
                adds FGL.
            fdr_targets (Sequence[tuple[Tensor]], optional): Per output,
                the FGL targets of its box pairs (:func:`fgl_targets`).
            balances (Sequence[tuple[float]], optional): DDF's (num_pos,
                num_neg) of outputs 0 to O - 2, which the last output
                (the teacher) distils into; None: no DDF.

        Returns:
            list[dict[str, Tensor]]: Per output, ``loss_cls``,
            ``loss_bbox``, ``loss_iou`` and when applicable ``loss_fgl``,
            ``loss_ddf``.
        """
        iou_aware = getattr(self.loss_cls, 'iou_aware', False)
        losses = [
            dict(loss_cls=value)
            for value in classification_losses(
                self.loss_cls, scores, boxes, cls_pairs, num_cls, iou_aware
            )
        ]
        index, sizes = stacked_index(box_pairs)
        matched = boxes[index]
        matched_xyxy = box_cxcywh_to_xyxy(matched)
        gt_xyxy = torch.cat([p.xyxy for p in box_pairs])
        for terms, pred, pred_xyxy, gt, gt_box in zip(
            losses, matched.split(sizes), matched_xyxy.split(sizes),
            box_pairs, gt_xyxy.split(sizes),
        ):  # fmt: skip
            terms['loss_bbox'] = self.loss_bbox(
                pred, gt.cxcywh, avg_factor=num_box
            )
            terms['loss_iou'] = self.loss_iou(
                pred_xyxy, gt_box, avg_factor=num_box
            )
        if corners is None or self.loss_fgl is None:
            return losses
        bins = self.reg_max + 1
        ious = aligned_iou(matched_xyxy, gt_xyxy).detach().split(sizes)
        edges = corners[index].split(sizes)
        for terms, edge, iou, (target, right, left) in zip(
            losses, edges, ious, fdr_targets
        ):
            terms['loss_fgl'] = self.loss_fgl(
                edge.reshape(-1, bins), target, right, left,
                weight=iou.repeat_interleave(4), avg_factor=num_box,
            )  # fmt: skip
        if balances is None or self.loss_ddf is None:
            return losses
        teacher = corners[-1].reshape(-1, bins)
        confidence = scores[-1].detach().sigmoid().max(-1).values
        positive = None
        for student, (terms, iou, pairs, balance) in enumerate(
            zip(losses[:-1], ious, box_pairs, balances)
        ):
            where = (pairs.batch, pairs.query)
            if positive is None or pairs is not box_pairs[student - 1]:
                positive = torch.zeros_like(confidence, dtype=torch.bool)
                positive[where] = True
            weight = confidence.index_put(where, iou.to(confidence.dtype))
            terms['loss_ddf'] = self.loss_ddf(
                corners[student].reshape(-1, bins), teacher,
                weight.reshape(-1).repeat_interleave(4),
                positive.reshape(-1).repeat_interleave(4), *balance,
            )  # fmt: skip
        return losses

    def single_output_loss(
        self,
        scores: Tensor,
        boxes: Tensor,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
    ) -> Dict[str, Tensor]:
        """Classification, L1 and GIoU of one output on its own matching
        (e.g. Deformable-DETR's class-agnostic proposals).

        Args:
            scores (Tensor): (B, S, K) logits.
            boxes (Tensor): (B, S, 4) boxes, cxcywh normalised.
            batch_gt_instances (list[:obj:`InstanceData`]): Ground truth.
            batch_img_metas (list[dict]): With ``img_shape``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou``.
        """
        targets = normalised_targets(batch_gt_instances, batch_img_metas)
        pairs = matched_pairs(
            targets,
            hungarian_match(
                self.assigner, scores, boxes, batch_gt_instances,
                batch_img_metas,
            ),
        )  # fmt: skip
        num = mean_over_processes(
            sum(len(t['labels']) for t in targets), scores.device
        )
        return self.outputs_loss(
            scores[None], boxes[None], [pairs], [pairs], num, num
        )[0]
