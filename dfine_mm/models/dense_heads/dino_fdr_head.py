"""The FDR head for mmdet's two-stage DETRs (DINO)."""

from typing import Tuple

from mmdet.registry import MODELS
from torch import nn

from .dfine_head import DFineHead


@MODELS.register_module()
class DINOFDRHead(DFineHead):
    """D-FINE's FDR head laid out for mmdet's two-stage DETRs (DINO).

    The branches and losses are :class:`DFineHead`'s (distribution branches
    per decoder layer, layer-0 ``pre_reg_branch``, LQE, GO-LSD losses); the
    layout follows mmdet's two-stage DETRs, whose ``pre_decoder`` scores and
    regresses the encoder memory with ``cls_branches[L]`` and
    ``reg_branches[L]`` (L decoder layers): those are the query-selection
    branches here (a class linear and a plain 4-output MLP).

    :class:`DeformableDETRFDRHead` adds Deformable-DETR's class-agnostic
    proposal loss.

    mmdet's ``DeformableDETR`` fills ``num_pred_layer`` (L + 1 when
    two-stage), ``as_two_stage`` and ``share_pred_layer`` (True unless
    ``with_box_refine``) from the detector.

    Args:
        num_pred_layer (int): Set by the detector.
        as_two_stage (bool): Set by the detector.
        share_pred_layer (bool): Set by the detector; FDR needs one branch
            per layer.
        **kwargs: :class:`DFineHead` arguments (``num_classes``,
            ``embed_dims``, ``reg_max``, ``loss_cls``, ``loss_bbox``,
            ``loss_iou``, ``loss_fgl``, ``loss_ddf``, ``union_matching``,
            ``lqe_cfg``, ``eval_idx``, ...).

    Raises:
        ValueError: ``share_pred_layer=True`` (``with_box_refine=False`` on
            the detector).
    """

    def __init__(
        self,
        *args,
        num_pred_layer: int = 6,
        as_two_stage: bool = False,
        share_pred_layer: bool = False,
        **kwargs,
    ) -> None:
        if not kwargs.get('fdr', True):
            raise ValueError(
                f'{type(self).__name__} predicts edge distributions; for '
                "plain box regression use mmdet's own head (e.g. DINOHead) "
                'and detector'
            )
        if share_pred_layer:
            raise ValueError(
                'FDR refines each decoder layer with its own distribution '
                'branch: set with_box_refine=True on the detector (mmdet '
                'then builds the head with share_pred_layer=False)'
            )
        self._two_stage = as_two_stage
        layers = num_pred_layer - 1 if as_two_stage else num_pred_layer
        super().__init__(
            *args,
            num_pred_layer=layers,
            as_two_stage=as_two_stage,
            share_pred_layer=False,
            **kwargs,
        )

    def _init_layers(self) -> None:
        """:class:`DFineHead`'s branches; the query-selection branches move
        to index L of ``cls_branches`` / ``reg_branches`` (two-stage) or go
        away."""
        super()._init_layers()
        enc_cls, enc_reg = self.enc_cls_branch, self.enc_reg_branch
        del self.enc_cls_branch, self.enc_reg_branch
        if self._two_stage:
            self.cls_branches.append(enc_cls)
            self.reg_branches.append(enc_reg)

    def _encoder_branches(self) -> Tuple[nn.Module, nn.Module]:
        if not self._two_stage:
            return None, None
        layers = self.num_pred_layer
        return self.cls_branches[layers], self.reg_branches[layers]
