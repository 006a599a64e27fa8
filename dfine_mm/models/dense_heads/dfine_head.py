"""Prediction head of D-FINE: class scores with LQE, FDR distributions."""

from typing import Tuple

from mmdet.registry import MODELS
from torch import nn

from ..utils.fdr_branches import query_selection_branches
from .fdr_dino_head import FDRDINOHead


@MODELS.register_module()
class DFineHead(FDRDINOHead):
    """Head of D-FINE (arXiv 2410.13842).

    :class:`FDRDINOHead` (D-FINE's branches and GO-LSD losses on every
    decoder layer, the layer-0 head (``pre_``), the selected encoder
    proposals (``enc_``) and the denoising queries (``dn_``)) in D-FINE's
    layout: the query-selection branches are ``enc_cls_branch`` /
    ``enc_reg_branch`` (the official checkpoints' ``enc_score_head`` /
    ``enc_bbox_head``), which the :class:`DFINE` detector calls.

    In eval mode :meth:`forward` scores only the evaluated layer (the last
    one the decoder ran). Post-processing is mmdet's (top-``max_per_img``
    over sigmoid scores of queries x classes); unlike the original it
    clamps boxes to the image.

    With ``fdr=False`` (the paper's ablation baseline, RT-DETR-style
    regression) ``reg_branches[i]`` give 4 box offsets, there is no
    ``pre_reg_branch`` and no LQE, and the losses are varifocal, L1 and
    GIoU; FGL and DDF need distributions and must be None.

    The :class:`DFINE` detector gives the head its structural settings
    (``num_pred_layer``, ``reg_max``, ``eval_idx``, ``embed_dims``,
    ``act_cfg`` and ``mlp_act_cfg`` from the decoder; ``fdr``).

    Args:
        fdr (bool): Edge distributions (FDR); False predicts boxes
            directly. Defaults to True.
        **kwargs: :class:`FDRDINOHead` arguments (``num_classes``,
            ``reg_max``, ``eval_idx``, ``lqe_cfg``, the losses,
            ``union_matching``, train/test cfg).
    """

    plain_regression_ok = True

    def _init_query_selection(self) -> None:
        """D-FINE's own query-selection branches."""
        self.enc_cls_branch, self.enc_reg_branch = query_selection_branches(
            self.embed_dims, self.cls_out_channels, self.mlp_act_cfg
        )

    def _encoder_branches(self) -> Tuple[nn.Module, nn.Module]:
        return self.enc_cls_branch, self.enc_reg_branch
