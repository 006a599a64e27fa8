"""The FDR head family's base: Deformable-DETR's head with D-FINE's
edge-distribution branches and GO-LSD losses."""

from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.models.layers.transformer.utils import MLP
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.model import bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..layers.dfine_lqe import DFineLQE
from ..losses.go_lsd_loss import DFineGOLSDLoss
from ..utils.detections import attach_edge_std
from ..utils.fdr import FDRParams, edge_std
from ..utils.fdr_branches import fdr_branches, query_selection_branches

DEFAULT_LOSS_CLS = dict(
    type='DFineVarifocalLoss', alpha=0.75, gamma=2.0, loss_weight=1.0
)
DEFAULT_LOSS_FGL = dict(type='DFineFGLLoss', loss_weight=0.15)
DEFAULT_LOSS_DDF = dict(type='DFineDDFLoss', temperature=5.0, loss_weight=1.5)


@MODELS.register_module()
@MODELS.register_module(name='DeformableDETRFDRHead')  # the old name
class FDRDeformableDETRHead(DeformableDETRHead):
    """Deformable-DETR's head predicting edge distributions (FDR, D-FINE
    arXiv 2410.13842) and trained with GO-LSD.

    Branches (one shared builder, :func:`fdr_branches`):

    - ``cls_branches[i]`` / ``lqe_layers[i]``: class logits of decoder
      layer i plus the location-quality term of its edge distributions;
    - ``reg_branches[i]``: residual edge-distribution logits of layer i
      (``4 * (reg_max + 1)``), used inside the decoder;
    - ``pre_reg_branch``: layer 0's classic refinement (the FDR anchors);
    - two-stage: the query-selection branches at index L of
      ``cls_branches`` / ``reg_branches``, as mmdet's two-stage DETRs
      expect (:meth:`_init_query_selection`).

    Losses (:meth:`loss_by_feat`): :class:`DFineGOLSDLoss` on the decoder
    layers and the layer-0 head, and Deformable-DETR's class-agnostic loss
    of the encoder proposals (:meth:`proposal_loss`), which stay out of
    GO-LSD's union. :class:`FDRDINOHead` puts the selected proposals into
    the union (``proposals_in_union``) and trains denoising queries.

    Args:
        num_pred_layer (int): Set by mmdet's detector (L + 1 if two-stage).
        as_two_stage (bool): Set by the detector.
        share_pred_layer (bool): Set by the detector; must be False.
        reg_max (int): N. Defaults to 32.
        eval_idx (int): Decoder layer used at inference (negative counts
            from the end). Defaults to -1.
        lqe_cfg (dict, optional): :class:`DFineLQE` arguments over
            ``dict(topk=4, hidden_dim=64, num_layers=2, act_cfg=act_cfg)``.
        loss_cls (dict): Defaults to :class:`DFineVarifocalLoss`.
        loss_fgl (dict, optional): FGL; None leaves it out.
        loss_ddf (dict, optional): DDF; None leaves it out.
        union_matching (bool): GO-LSD's union of the matchings for the box
            and distribution losses. Defaults to True.
        fdr (bool): Must be True here (:class:`DFineHead` also predicts
            plain boxes).
        act_cfg (dict, optional): The LQE's activation (None: ReLU).
        mlp_act_cfg (dict, optional): The box MLPs' one (None: ReLU).
        **kwargs: mmdet's ``DETRHead`` arguments (``num_classes``,
            ``embed_dims``, ``loss_bbox``, ``loss_iou``, train/test cfg).

    Raises:
        ValueError: ``share_pred_layer``, ``fdr=False`` or a bad ``eval_idx``.
    """

    #: whether ``fdr=False`` (plain box regression) is supported
    plain_regression_ok = False
    #: the proposals join GO-LSD (DINO, D-FINE) instead of their own
    #: class-agnostic loss (Deformable-DETR)
    proposals_in_union = False

    def __init__(
        self,
        *args,
        num_pred_layer: int = 6,
        as_two_stage: bool = False,
        share_pred_layer: bool = False,
        reg_max: int = 32,
        eval_idx: int = -1,
        lqe_cfg: OptConfigType = None,
        loss_cls: ConfigType = DEFAULT_LOSS_CLS,
        loss_fgl: OptConfigType = DEFAULT_LOSS_FGL,
        loss_ddf: OptConfigType = DEFAULT_LOSS_DDF,
        union_matching: bool = True,
        fdr: bool = True,
        act_cfg: OptConfigType = None,
        mlp_act_cfg: OptConfigType = None,
        **kwargs,
    ) -> None:
        name = type(self).__name__
        if not fdr and not self.plain_regression_ok:
            raise ValueError(
                f'{name} predicts edge distributions; for plain box '
                "regression use mmdet's own head (e.g. DINOHead) and detector"
            )
        if not fdr and (loss_fgl or loss_ddf):
            raise ValueError(
                'loss_fgl and loss_ddf train edge distributions, which a '
                'head with fdr=False does not predict: set both to None'
            )
        if share_pred_layer:
            raise ValueError(
                'FDR refines each decoder layer with its own distribution '
                'branch: set with_box_refine=True on the detector (mmdet '
                'then builds the head with share_pred_layer=False)'
            )
        self.fdr = fdr
        self.reg_max = reg_max
        self.union_matching = union_matching
        self.lqe_cfg = dict(topk=4, hidden_dim=64, num_layers=2)
        self.lqe_cfg.update(act_cfg=act_cfg, **(lqe_cfg or {}))
        self.mlp_act_cfg = mlp_act_cfg
        self.num_layers = num_pred_layer - int(as_two_stage)
        self.eval_idx = (
            eval_idx if eval_idx >= 0 else self.num_layers + eval_idx
        )
        if not 0 <= self.eval_idx < self.num_layers:
            raise ValueError(
                f'eval_idx {eval_idx} is outside the {self.num_layers} layers'
            )
        super().__init__(
            *args,
            num_pred_layer=num_pred_layer,
            as_two_stage=as_two_stage,
            share_pred_layer=False,
            loss_cls=dict(loss_cls),
            **kwargs,
        )
        self.loss_fgl = MODELS.build(loss_fgl) if loss_fgl else None
        self.loss_ddf = MODELS.build(loss_ddf) if loss_ddf else None

    def _init_layers(self) -> None:
        """Build the branches (called by mmdet's ``DETRHead.__init__``)."""
        (
            self.cls_branches,
            self.reg_branches,
            self.lqe_layers,
            self.pre_reg_branch,
        ) = fdr_branches(
            self.embed_dims,
            self.cls_out_channels,
            self.num_layers,
            self.reg_max,
            self.lqe_cfg,
            self.fdr,
            self.mlp_act_cfg,
        )
        self._init_query_selection()

    def _init_query_selection(self) -> None:
        """Two-stage: the query-selection branches go to index L of
        ``cls_branches`` / ``reg_branches`` (mmdet's layout)."""
        if self.as_two_stage:
            cls, reg = query_selection_branches(
                self.embed_dims, self.cls_out_channels, self.mlp_act_cfg
            )
            self.cls_branches.append(cls)
            self.reg_branches.append(reg)

    def _encoder_branches(self) -> Tuple[nn.Module, nn.Module]:
        """The query-selection branches (scores, box offsets), or Nones."""
        if not self.as_two_stage:
            return None, None
        return self.cls_branches[-1], self.reg_branches[-1]

    def init_weights(self) -> None:
        """Score biases at prior 0.01; every box branch and LQE starts as
        the identity (last layer zero), as in the original."""
        bias = bias_init_with_prob(0.01)
        enc_cls, enc_reg = self._encoder_branches()
        for branch in (*self.cls_branches, enc_cls):
            if isinstance(branch, nn.Linear):
                nn.init.constant_(branch.bias, bias)
        for mlp in (*self.reg_branches, self.pre_reg_branch, enc_reg):
            if isinstance(mlp, MLP):
                nn.init.zeros_(mlp.layers[-1].weight)
                nn.init.zeros_(mlp.layers[-1].bias)
        for lqe in self.lqe_layers:
            if isinstance(lqe, DFineLQE):
                nn.init.zeros_(lqe.reg_conf.layers[-1].weight)
                nn.init.zeros_(lqe.reg_conf.layers[-1].bias)

    def forward(
        self,
        hidden_states: Tensor,
        references: Tensor,
        corners: Optional[Tensor] = None,
        fdr_params: Optional[FDRParams] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Class logits (with LQE) and boxes of the decoder layers.

        Args:
            hidden_states (Tensor): (R, B, Q, C) decoder layer outputs.
            references (Tensor): (R, B, Q, 4) boxes, cxcywh normalised.
            corners (Tensor, optional): (R, B, Q, 4 * (N + 1)) edge logits;
                None with ``fdr=False``.
            fdr_params (:class:`FDRParams`, optional): Not used here
                (mmdet's tensor mode passes every decoder output).

        Returns:
            tuple[Tensor]: ``all_layers_cls_scores`` (R, B, Q, K) in
            training, (1, B, Q, K) for the evaluated layer in eval, and
            ``all_layers_bbox_preds`` (.., B, Q, 4) cxcywh normalised.
        """
        num = hidden_states.shape[0]
        indices = range(num) if self.training else [num - 1]
        scores = []
        for index in indices:
            layer_scores = self.cls_branches[index](hidden_states[index])
            if self.fdr:
                lqe = self.lqe_layers[index]
                layer_scores = lqe(layer_scores, corners[index])
            scores.append(layer_scores)
        return torch.stack(scores), references[indices[0] :]

    def loss(
        self,
        hidden_states: Tensor,
        references: Tensor,
        corners: Optional[Tensor],
        pre_references: Optional[Tensor],
        anchors: Optional[Tensor],
        fdr_params: Optional[FDRParams],
        enc_outputs_class: Optional[Tensor],
        enc_outputs_coord: Optional[Tensor],
        batch_data_samples: SampleList,
        dn_meta: Optional[Dict] = None,
    ) -> Dict[str, Tensor]:
        """Training losses of a batch: the decoder's outputs (layer axis L,
        queries Q' = D + Q with the D denoising queries first; ``corners``
        to ``fdr_params`` None with ``fdr=False``), the detector's encoder
        proposals and denoising layout. See :meth:`loss_by_feat`."""
        scores, boxes = self(hidden_states, references, corners)
        pre_scores = None
        if pre_references is not None:
            pre_scores = self.cls_branches[0](hidden_states[0])
        return self.loss_by_feat(
            scores,
            boxes,
            corners,
            anchors,
            pre_scores,
            pre_references,
            enc_outputs_class,
            enc_outputs_coord,
            fdr_params,
            [s.gt_instances for s in batch_data_samples],
            [s.metainfo for s in batch_data_samples],
            dn_meta,
        )

    def go_lsd_loss(self) -> DFineGOLSDLoss:
        """The GO-LSD loss over this head's loss modules and assigner."""
        return DFineGOLSDLoss(
            self.num_classes, self.reg_max, getattr(self, 'assigner', None),
            self.loss_cls, self.loss_bbox, self.loss_iou, self.loss_fgl,
            self.loss_ddf, self.union_matching,
        )  # fmt: skip

    def loss_by_feat(
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        all_layers_corners: Optional[Tensor],
        anchors: Optional[Tensor],
        pre_cls_scores: Optional[Tensor],
        pre_bbox_preds: Optional[Tensor],
        enc_cls_scores: Tensor,
        enc_bbox_preds: Tensor,
        fdr_params: Optional[FDRParams],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        dn_meta: Optional[Dict] = None,
    ) -> Dict[str, Tensor]:
        """GO-LSD (:class:`DFineGOLSDLoss`) on the decoder layers, the
        layer-0 head and, with ``proposals_in_union``, the selected
        proposals; otherwise the class-agnostic :meth:`proposal_loss` on
        the proposals.

        Args:
            all_layers_cls_scores (Tensor): (L, B, Q', K) logits, Q' = D + Q
                (the D denoising queries first, D = 0 without).
            all_layers_bbox_preds (Tensor): (L, B, Q', 4) boxes, cxcywh.
            all_layers_corners (Tensor): (L, B, Q', 4 * (N + 1)).
            anchors (Tensor): (B, Q', 4) FDR anchors.
            pre_cls_scores (Tensor): (B, Q', K) layer-0 head logits.
            pre_bbox_preds (Tensor): (B, Q', 4) its boxes.
            enc_cls_scores (Tensor): (B, S, K) proposal logits (S: every
                encoder position, or the Q selected ones).
            enc_bbox_preds (Tensor): (B, S, 4) their boxes, cxcywh.
            fdr_params (:class:`FDRParams`): The decoder's a, c, W(n).
            batch_gt_instances (list[:obj:`InstanceData`]): ``bboxes``
                xyxy pixels and ``labels``.
            batch_img_metas (list[dict]): With ``img_shape``.
            dn_meta (dict, optional): Denoising layout; None without.

        Returns:
            dict[str, Tensor]: The GO-LSD terms and the ``enc_`` terms.
        """
        union = self.proposals_in_union
        losses = self.go_lsd_loss()(
            all_layers_cls_scores, all_layers_bbox_preds,
            all_layers_corners, anchors, pre_cls_scores, pre_bbox_preds,
            enc_cls_scores if union else None,
            enc_bbox_preds if union else None, fdr_params,
            batch_gt_instances, batch_img_metas, dn_meta,
        )  # fmt: skip
        if not union:
            losses.update(
                self.proposal_loss(
                    enc_cls_scores,
                    enc_bbox_preds,
                    batch_gt_instances,
                    batch_img_metas,
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
        """``enc_loss_{cls,bbox,iou}`` of the (B, S, K) proposal logits and
        (B, S, 4) cxcywh boxes, every ground truth labelled 0 (mmdet's)."""
        agnostic = [gt.clone() for gt in batch_gt_instances]
        for gt in agnostic:
            gt.labels = torch.zeros_like(gt.labels)
        losses = self.go_lsd_loss().single_output_loss(
            scores, boxes, agnostic, batch_img_metas
        )
        return {'enc_' + name: value for name, value in losses.items()}

    def predict(
        self,
        hidden_states: Tensor,
        references: Tensor,
        corners: Optional[Tensor],
        batch_data_samples: SampleList,
        rescale: bool = True,
        fdr_params: Optional[FDRParams] = None,
    ) -> InstanceList:
        """Detections of the evaluated decoder layer; with ``fdr_params``
        each also has ``edge_std`` (n, 4): the std of its left, top, right
        and bottom edge under the distributions, in pixels like ``bboxes``.

        Args:
            hidden_states (Tensor): (R, B, Q, C) decoder outputs.
            references (Tensor): (R, B, Q, 4) boxes, cxcywh normalised.
            corners (Tensor, optional): (R, B, Q, 4 * (N + 1)) logits.
            batch_data_samples (list[:obj:`DetDataSample`]): Image metas.
            rescale (bool): Boxes in the original image space.
            fdr_params (:class:`FDRParams`, optional): The decoder's.

        Returns:
            list[:obj:`InstanceData`]: Per image ``bboxes`` (n, 4) xyxy
            pixels, ``scores`` (n,), ``labels`` (n,) and ``edge_std``.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        outs = self(hidden_states, references, corners)
        results = self.predict_by_feat(
            *outs, batch_img_metas=batch_img_metas, rescale=rescale
        )
        # (an export rewrite of predict_by_feat returns tensors instead)
        if fdr_params is not None and isinstance(results[0], InstanceData):
            self._add_edge_std(
                results, outs[0][-1], references[-1], corners[-1],
                fdr_params, batch_img_metas, rescale,
            )  # fmt: skip
        return results

    def _add_edge_std(
        self, results: InstanceList, scores: Tensor, boxes: Tensor,
        corners: Tensor, fdr_params: FDRParams, batch_img_metas: List[dict],
        rescale: bool,
    ) -> None:  # fmt: skip
        """Attach :func:`edge_std` of the evaluated layer ((B, Q, K) logits,
        (B, Q, 4) cxcywh boxes, their corners) to the detections."""
        project, reg_scale = fdr_params.project, fdr_params.reg_scale
        std = edge_std(corners, boxes, project, reg_scale)
        num = self.test_cfg.get('max_per_img', std.shape[1])
        attach_edge_std(results, scores, std, batch_img_metas, num, rescale)
