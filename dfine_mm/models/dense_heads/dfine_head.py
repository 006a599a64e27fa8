"""Prediction head of D-FINE: class scores with LQE, FDR distributions."""

from typing import Dict, List, Optional, Tuple

import torch
from mmcv.cnn import Linear
from mmdet.models.dense_heads import DINOHead
from mmdet.models.layers.transformer.utils import MLP
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.model import bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..layers.dfine_lqe import DFineLQE
from ..utils.fdr import edge_std, weighting_function
from .fdr_loss_mixin import FDRLossMixin

DEFAULT_LOSS_CLS = dict(
    type='DFineVarifocalLoss', alpha=0.75, gamma=2.0, loss_weight=1.0
)
DEFAULT_LOSS_FGL = dict(type='DFineFGLLoss', loss_weight=0.15)
DEFAULT_LOSS_DDF = dict(type='DFineDDFLoss', temperature=5.0, loss_weight=1.5)


@MODELS.register_module()
class DFineHead(FDRLossMixin, DINOHead):
    """Head of D-FINE (arXiv 2410.13842).

    Holds every prediction branch of the model; the detector and the decoder
    call them where the original computes them:

    - ``cls_branches[i]`` / ``lqe_layers[i]``: class logits of decoder layer
      i, plus the location-quality term from its edge distributions;
    - ``reg_branches[i]``: residual edge-distribution logits of layer i
      (``4 * (reg_max + 1)`` outputs), used inside the decoder (FDR);
    - ``pre_reg_branch``: layer 0's classic box refinement (4 outputs);
    - ``enc_cls_branch`` / ``enc_reg_branch``: query selection on the
      encoder memory.

    In eval mode :meth:`forward` scores only the evaluated layer (the last
    one the decoder ran), so the outputs have one entry on the layer axis.
    Post-processing is mmdet's (top-``max_per_img`` over sigmoid scores of
    queries x classes); unlike the original it clamps boxes to the image.

    Training losses are GO-LSD's (:class:`FDRLossMixin`): varifocal, L1,
    GIoU, FGL and DDF on every decoder layer, the layer-0 head (``pre_``),
    the encoder proposals (``enc_``) and the denoising queries (``dn_``).

    With ``fdr=False`` (the paper's ablation baseline, RT-DETR-style
    regression) ``reg_branches[i]`` give 4 box offsets, there is no
    ``pre_reg_branch`` and no LQE, and the losses are varifocal, L1 and
    GIoU; FGL and DDF need distributions and must be None.

    Args:
        num_classes (int): Number of classes K.
        embed_dims (int): Channels C. Defaults to 256.
        num_pred_layer (int): Decoder layers L. Defaults to 6.
        reg_max (int): N; edge distributions have N + 1 bins. Defaults to 32.
        eval_idx (int): Decoder layer used at inference (negative counts from
            the end). Defaults to -1.
        lqe_cfg (dict, optional): Keyword arguments of :class:`DFineLQE`
            other than ``reg_max``, over the defaults ``dict(topk=4,
            hidden_dim=64, num_layers=2)``. Defaults to None.
        loss_cls (dict): Classification loss. Defaults to
            :class:`DFineVarifocalLoss` (alpha 0.75, gamma 2, weight 1).
        loss_fgl (dict, optional): FGL config; None leaves it out.
            Defaults to ``DFineFGLLoss`` with weight 0.15.
        loss_ddf (dict, optional): DDF config; None leaves it out.
            Defaults to ``DFineDDFLoss`` with T 5 and weight 1.5.
        union_matching (bool): Box and distribution losses use the union
            of all outputs' matchings (GO-LSD). Defaults to True.
        fdr (bool): Edge distributions (FDR); False predicts boxes
            directly. The detector sets it. Defaults to True.
        **kwargs: Passed to mmdet's ``DINOHead`` (``loss_bbox``,
            ``loss_iou``, train/test cfg).
    """

    def __init__(
        self,
        *args,
        reg_max: int = 32,
        eval_idx: int = -1,
        lqe_cfg: OptConfigType = None,
        loss_cls: ConfigType = DEFAULT_LOSS_CLS,
        loss_fgl: OptConfigType = DEFAULT_LOSS_FGL,
        loss_ddf: OptConfigType = DEFAULT_LOSS_DDF,
        union_matching: bool = True,
        fdr: bool = True,
        **kwargs,
    ) -> None:
        if not fdr and (loss_fgl or loss_ddf):
            raise ValueError(
                'loss_fgl and loss_ddf train edge distributions, which a '
                'head with fdr=False does not predict: set both to None'
            )
        self.fdr = fdr
        self.reg_max = reg_max
        self.union_matching = union_matching
        self.lqe_cfg = dict(topk=4, hidden_dim=64, num_layers=2)
        self.lqe_cfg.update(lqe_cfg or {})
        num_layers = kwargs.get('num_pred_layer', 6)
        self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx
        if not 0 <= self.eval_idx < num_layers:
            raise ValueError(
                f'eval_idx {eval_idx} is outside the {num_layers} layers'
            )
        super().__init__(*args, loss_cls=dict(loss_cls), **kwargs)
        self.loss_fgl = MODELS.build(loss_fgl) if loss_fgl else None
        self.loss_ddf = MODELS.build(loss_ddf) if loss_ddf else None

    def _init_layers(self) -> None:
        """Build the branches (called by mmdet's ``DETRHead.__init__``)."""
        dims, layers = self.embed_dims, self.num_pred_layer
        num_out = 4 * (self.reg_max + 1) if self.fdr else 4
        self.cls_branches = nn.ModuleList(
            Linear(dims, self.cls_out_channels) for _ in range(layers)
        )
        self.reg_branches = nn.ModuleList(
            MLP(dims, dims, num_out, 3) for _ in range(layers)
        )
        self.lqe_layers = nn.ModuleList(
            DFineLQE(self.reg_max, **self.lqe_cfg)
            for _ in range(layers if self.fdr else 0)
        )
        self.pre_reg_branch = MLP(dims, dims, 4, 3) if self.fdr else None
        self.enc_cls_branch = Linear(dims, self.cls_out_channels)
        self.enc_reg_branch = MLP(dims, dims, 4, 3)

    def _encoder_branches(self) -> Tuple[nn.Module, nn.Module]:
        """The query-selection branches (scores, box offsets)."""
        return self.enc_cls_branch, self.enc_reg_branch

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
        fdr_params: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Class logits (with LQE) and boxes of the decoder layers.

        Args:
            hidden_states (Tensor): Decoder layer outputs, shape
                (R, B, Q, C).
            references (Tensor): Boxes of each layer, shape (R, B, Q, 4),
                cxcywh normalised.
            corners (Tensor, optional): Edge distribution logits, shape
                (R, B, Q, 4 * (N + 1)); None with ``fdr=False``.
            fdr_params (tuple[Tensor], optional): Not used here (the
                detector's outputs carry it for the losses and
                ``edge_std``; mmdet's tensor mode passes them all).

        Returns:
            tuple[Tensor]:

            - all_layers_cls_scores (Tensor): (R, B, Q, K) in training, and
              (1, B, Q, K) for the evaluated layer in eval.
            - all_layers_bbox_preds (Tensor): Matching (.., B, Q, 4),
              cxcywh normalised.
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
        fdr_params: Optional[Tuple[Tensor, Tensor]],
        enc_outputs_class: Tensor,
        enc_outputs_coord: Tensor,
        batch_data_samples: SampleList,
        dn_meta: Optional[Dict] = None,
    ) -> Dict[str, Tensor]:
        """Training losses of a batch.

        Args:
            hidden_states (Tensor): (L, B, Q', C) decoder layer outputs,
                Q' = D + Q (denoising queries first).
            references (Tensor): (L, B, Q', 4) boxes, cxcywh normalised.
            corners (Tensor): (L, B, Q', 4 * (N + 1)) edge logits.
            pre_references (Tensor): (B, Q', 4) boxes of the layer-0 head.
            anchors (Tensor): (B, Q', 4) detached FDR anchors.
            fdr_params (tuple[Tensor]): The decoder's ``(up, reg_scale)``.
                ``corners`` to ``fdr_params`` are None with ``fdr=False``.
            enc_outputs_class (Tensor): (B, Q, K) logits of the selected
                encoder positions.
            enc_outputs_coord (Tensor): (B, Q, 4) their boxes, cxcywh.
            batch_data_samples (list[:obj:`DetDataSample`]): Ground truth
                and image metas.
            dn_meta (dict, optional): Denoising layout; None without.

        Returns:
            dict[str, Tensor]: See :meth:`FDRLossMixin.fdr_loss`.
        """
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        scores, boxes = self(hidden_states, references, corners)
        pre_scores = None
        if pre_references is not None:
            pre_scores = self.cls_branches[0](hidden_states[0])
        return self.fdr_loss(
            scores,
            boxes,
            corners,
            anchors,
            pre_scores,
            pre_references,
            enc_outputs_class,
            enc_outputs_coord,
            fdr_params,
            batch_gt_instances,
            batch_img_metas,
            dn_meta,
        )

    def predict(
        self,
        hidden_states: Tensor,
        references: Tensor,
        corners: Optional[Tensor],
        batch_data_samples: SampleList,
        rescale: bool = True,
        fdr_params: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> InstanceList:
        """Detections of the evaluated decoder layer.

        With ``fdr_params`` (the decoder's ``(up, reg_scale)``, given by
        the detector) each detection also carries ``edge_std`` (n, 4): the
        standard deviation of its left, top, right and bottom edge under
        the edge distributions, in pixels like ``bboxes`` (a localisation
        uncertainty).

        Args:
            hidden_states (Tensor): (R, B, Q, C) decoder outputs.
            references (Tensor): (R, B, Q, 4) boxes, cxcywh normalised.
            corners (Tensor, optional): (R, B, Q, 4 * (N + 1))
                distribution logits; None with ``fdr=False``.
            batch_data_samples (list[:obj:`DetDataSample`]): Image metas.
            rescale (bool): Return boxes in the original image space.
                Defaults to True.

        Returns:
            list[:obj:`InstanceData`]: Per image ``bboxes`` (n, 4) xyxy
            pixels, ``scores`` (n,), ``labels`` (n,) and ``edge_std``
            (n, 4), n = max_per_img.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        outs = self(hidden_states, references, corners)
        results = self.predict_by_feat(
            *outs, batch_img_metas=batch_img_metas, rescale=rescale
        )
        # (an export rewrite of predict_by_feat returns tensors instead)
        with_std = fdr_params is not None and self.fdr
        if with_std and results and isinstance(results[0], InstanceData):
            self._add_edge_std(
                results, outs[0][-1], references[-1], corners[-1],
                fdr_params, batch_img_metas, rescale,
            )  # fmt: skip
        return results

    def _add_edge_std(
        self,
        results: InstanceList,
        scores: Tensor,
        boxes: Tensor,
        corners: Tensor,
        fdr_params: Tuple[Tensor, Tensor],
        batch_img_metas: List[dict],
        rescale: bool,
    ) -> None:
        """Attach ``edge_std`` (n, 4) pixels to each image's detections.

        The detections are the top ``max_per_img`` of the sigmoid scores
        over queries x classes (mmdet's DETR post-processing), so the same
        top-k gives each detection's query.

        Args:
            results (list[:obj:`InstanceData`]): Changed in place.
            scores (Tensor): (B, Q, K) logits of the evaluated layer.
            boxes (Tensor): (B, Q, 4) its boxes, cxcywh normalised.
            corners (Tensor): (B, Q, 4 * (N + 1)) its edge logits.
            fdr_params (tuple[Tensor]): ``(up, reg_scale)``.
            batch_img_metas (list[dict]): ``img_shape``, ``scale_factor``.
            rescale (bool): Pixels of the original image.
        """
        up, reg_scale = fdr_params
        project = weighting_function(self.reg_max, up, reg_scale)
        std = edge_std(corners, boxes, project, reg_scale)  # (B, Q, 4)
        num = self.test_cfg.get('max_per_img', scores.shape[1])
        for image, (result, meta) in enumerate(zip(results, batch_img_metas)):
            top = scores[image].sigmoid().flatten().topk(num).indices
            value = std[image, top // self.num_classes]
            h, w = meta['img_shape'][:2]
            value = value * value.new_tensor([w, h, w, h])
            if rescale:
                factor = value.new_tensor(meta['scale_factor']).repeat(2)
                value = value / factor
            result.edge_std = value

    def switch_to_deploy(self) -> None:
        """Drop what inference never uses: the score branches and LQEs of
        other layers, the distribution branches after ``eval_idx``."""
        keep = self.eval_idx
        for index in range(self.num_pred_layer):
            if index != keep:
                self.cls_branches[index] = nn.Identity()
                if self.fdr:
                    self.lqe_layers[index] = nn.Identity()
            if index > keep:
                self.reg_branches[index] = nn.Identity()
