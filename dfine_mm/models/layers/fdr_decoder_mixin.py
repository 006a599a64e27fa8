"""The layer loop shared by every FDR decoder (D-FINE, DINO + FDR)."""

from typing import Callable, Dict, Optional, Tuple

import torch
from mmdet.models.layers.transformer.utils import inverse_sigmoid
from torch import Tensor, nn

from ..utils.fdr import (
    FDRParams,
    fdr_initial_boxes,
    fdr_refine,
    weighting_function,
)

#: run_layer(index, query, reference) -> (new query, state for the head)
LayerRunner = Callable[[int, Tensor, Tensor], Tuple[Tensor, Tensor]]


class FDRDecoderMixin:
    """Fine-grained Distribution Refinement over a stack of decoder layers.

    The host decoder provides ``num_layers``, ``training`` and, through
    :meth:`_init_fdr`, ``reg_max``, ``eval_idx`` and the non-trainable
    parameters ``up`` and ``reg_scale`` (the weighting function's a and c,
    stored as in the official checkpoints). Its ``forward`` describes how
    one layer runs; :meth:`_fdr_decode` does the rest: layer 0's classic
    refinement gives the anchors (``pre_reg_branch``), every layer adds
    residual edge-distribution logits (:func:`fdr_refine`), the next layer
    attends around the detached boxes; in eval mode the layers after
    ``eval_idx`` do not run.
    """

    def _init_fdr(
        self, reg_max: int, reg_scale: float, up: float, eval_idx: int
    ) -> None:
        self.reg_max = reg_max
        layers = self.num_layers
        self.eval_idx = eval_idx if eval_idx >= 0 else layers + eval_idx
        if not 0 <= self.eval_idx < layers:
            raise ValueError(
                f'eval_idx {eval_idx} is outside the {layers} decoder layers'
            )
        self.up = nn.Parameter(torch.tensor([up]), requires_grad=False)
        self.reg_scale = nn.Parameter(
            torch.tensor([reg_scale]), requires_grad=False
        )

    def _fdr_decode(
        self,
        query: Tensor,
        reference: Tensor,
        run_layer: LayerRunner,
        reg_branches: nn.ModuleList,
        pre_reg_branch: nn.Module,
    ) -> Dict[str, Tensor]:
        """Run the layers with FDR box updates.

        Args:
            query (Tensor): Initial queries (B, Q, C).
            reference (Tensor): Initial boxes (B, Q, 4), cxcywh in [0, 1],
                detached.
            run_layer (callable): ``(index, query, reference) -> (query,
                state)``; ``state`` (B, Q, C) is what the head's branches
                see.
            reg_branches (nn.ModuleList): Distribution branch per layer,
                (..., C) -> (..., 4 * (N + 1)).
            pre_reg_branch (nn.Module): Layer 0's classic branch,
                (..., C) -> (..., 4).

        Returns:
            dict: R = L in training, eval_idx + 1 in eval. ``hidden_states``
            (R, B, Q, C), ``references`` (R, B, Q, 4) boxes cxcywh,
            ``corners`` (R, B, Q, 4 * (N + 1)) logits, ``pre_references``
            (B, Q, 4) layer 0's classic boxes, ``anchors`` (B, Q, 4) and
            ``fdr_params`` (:class:`FDRParams`: a, c and the step's W(n),
            for the losses and ``edge_std``).
        """
        num_run = self.num_layers if self.training else self.eval_idx + 1
        weights = weighting_function(self.reg_max, self.up, self.reg_scale)
        project = weights.to(query.dtype)
        prev_state = prev_corners = 0.0
        anchors = pre_references = None
        states, boxes, all_corners = [], [], []
        for index in range(num_run):
            query, state = run_layer(index, query, reference)
            if index == 0:
                pre_references = fdr_initial_boxes(
                    pre_reg_branch, state, reference
                )
                anchors = pre_references.detach()
            corners, layer_boxes = fdr_refine(
                reg_branches[index],
                state,
                prev_state,
                prev_corners,
                anchors,
                project,
                self.reg_scale,
            )
            states.append(state)
            boxes.append(layer_boxes)
            all_corners.append(corners)
            prev_corners = corners
            prev_state = state.detach()
            reference = layer_boxes.detach()
        return dict(
            hidden_states=torch.stack(states),
            references=torch.stack(boxes),
            corners=torch.stack(all_corners),
            pre_references=pre_references,
            anchors=anchors,
            fdr_params=FDRParams(self.up, self.reg_scale, weights),
        )

    def _box_decode(
        self,
        query: Tensor,
        reference: Tensor,
        run_layer: LayerRunner,
        reg_branches: nn.ModuleList,
    ) -> Dict[str, Optional[Tensor]]:
        """Run the layers with classic box refinement (no FDR).

        The ablation baseline of the paper (RT-DETR's decoder): layer i
        predicts 4 offsets in inverse-sigmoid space on top of layer i-1's
        detached box; the next layer attends around the new box, detached.
        The box a layer outputs refines the previous layer's box *before*
        detaching it ("look forward twice", as RT-DETR and DINO), which is
        the same value with a gradient path into the previous layer.

        Args:
            query (Tensor): Initial queries (B, Q, C).
            reference (Tensor): Initial boxes (B, Q, 4), cxcywh in [0, 1],
                detached.
            run_layer (callable): As in :meth:`_fdr_decode`.
            reg_branches (nn.ModuleList): Box branch per layer,
                (..., C) -> (..., 4).

        Returns:
            dict: ``hidden_states`` (R, B, Q, C) and ``references``
            (R, B, Q, 4) boxes cxcywh, R as in :meth:`_fdr_decode`;
            ``corners``, ``pre_references``, ``anchors`` and ``fdr_params``
            are None.
        """
        num_run = self.num_layers if self.training else self.eval_idx + 1
        states, boxes = [], []
        prev_boxes = reference
        for index in range(num_run):
            query, state = run_layer(index, query, reference)
            offsets = reg_branches[index](state)
            new_boxes = torch.sigmoid(offsets + inverse_sigmoid(reference))
            if index and self.training:
                new_output = offsets + inverse_sigmoid(prev_boxes)
                boxes.append(torch.sigmoid(new_output))
            else:
                boxes.append(new_boxes)
            states.append(state)
            prev_boxes = new_boxes
            reference = new_boxes.detach()
        return dict(
            hidden_states=torch.stack(states),
            references=torch.stack(boxes),
            corners=None,
            pre_references=None,
            anchors=None,
            fdr_params=None,
        )
