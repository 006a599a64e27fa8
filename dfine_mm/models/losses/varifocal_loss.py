"""Varifocal loss with a detached focal weight, as D-FINE trains it."""

from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class DFineVarifocalLoss(nn.Module):
    """IoU-aware classification loss of RT-DETR / D-FINE.

    For logits x and IoU-aware targets t (the IoU of a matched query's box
    with its ground truth at the ground-truth class, 0 elsewhere)::

        w = alpha * sigmoid(x).detach() ** gamma * (1 - onehot) + t
        loss = sum(w * BCEWithLogits(x, t)) / avg_factor

    Unlike mmdet's ``VarifocalLoss`` the focal weight is detached, and the
    negatives are the entries outside the matched class one-hot (a matched
    query with IoU 0 gets weight 0 at its class, as in the original).

    Args:
        alpha (float): Weight of the negatives. Defaults to 0.75.
        gamma (float): Focusing exponent. Defaults to 2.0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    #: the FDR heads give IoU targets and the matched-class mask
    iou_aware = True

    def __init__(
        self, alpha: float = 0.75, gamma: float = 2.0, loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.use_sigmoid = True  # read by mmdet's DETR heads
        self.alpha = alpha
        self.gamma = gamma
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        positive: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
    ) -> Tensor:
        """Args:
            pred (Tensor): Logits, shape (n, K).
            target (Tensor): IoU-aware targets in [0, 1], shape (n, K).
            positive (Tensor, optional): Bool (n, K), the one-hot of the
                matched classes. Defaults to ``target > 0``.
            avg_factor (float, optional): Normaliser (number of ground
                truths). Defaults to the number of rows n.

        Returns:
            Tensor: Scalar loss.

        Raises:
            ValueError: ``target`` is not a float tensor of ``pred``'s
                shape (e.g. class indices, as mmdet's DETR heads pass
                them), or ``positive`` is not a bool mask of that shape.
        """
        _check_inputs(pred, target, positive)
        if positive is None:
            positive = target > 0
        target = target.to(pred.dtype)
        score = pred.sigmoid().detach()
        weight = (
            self.alpha * score.pow(self.gamma) * (~positive).to(pred.dtype)
            + target
        )
        loss = F.binary_cross_entropy_with_logits(
            pred, target, weight=weight, reduction='none'
        )
        avg_factor = len(pred) if avg_factor is None else avg_factor
        return self.loss_weight * loss.sum() / avg_factor


def _check_inputs(
    pred: Tensor, target: Tensor, positive: Optional[Tensor]
) -> None:
    """Raise a ValueError naming the fix when the loss is called as mmdet's
    DETR heads call a classification loss (class indices and label
    weights) instead of with IoU-aware targets."""
    if target.shape != pred.shape or not target.is_floating_point():
        raise ValueError(
            f'DFineVarifocalLoss takes IoU-aware targets of the logits\' '
            f'shape {tuple(pred.shape)}, got {target.dtype} '
            f'{tuple(target.shape)}: '
            f'class indices, as mmdet\'s DETR heads pass them? Use it '
            f'with an FDR head (DFineHead, FDRDINOHead, '
            f'FDRDeformableDETRHead), which give IoU targets, or use '
            f'mmdet\'s FocalLoss with other heads'
        )  # fmt: skip
    if positive is not None and (
        positive.dtype != torch.bool or positive.shape != pred.shape
    ):
        raise ValueError(
            f'DFineVarifocalLoss: positive must be a bool mask of shape '
            f"{tuple(pred.shape)} (the matched classes' one-hot), got "
            f'{positive.dtype} of shape {tuple(positive.shape)}'
        )
