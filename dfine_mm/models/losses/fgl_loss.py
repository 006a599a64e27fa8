"""Fine-Grained Localization (FGL) loss of D-FINE."""

from typing import Optional

import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class DFineFGLLoss(nn.Module):
    """Unimodal distribution focal loss on FDR's non-uniform bins.

    Each matched edge has a soft target on two neighbouring bins: the left
    bin i = floor(target) with ``weight_left`` and i + 1 with
    ``weight_right`` (the linear interpolation of the ground-truth distance
    between W(i) and W(i + 1), see
    :func:`dfine_mm.models.utils.bbox2distance`). Per edge::

        l = iou * (weight_left * CE(z, i) + weight_right * CE(z, i + 1))

    and the loss is ``sum(l) / avg_factor``. mmdet's
    ``DistributionFocalLoss`` assumes uniform bins and integer-spaced
    targets, so it does not apply.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 0.15.
    """

    def __init__(self, loss_weight: float = 0.15) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight_right: Tensor,
        weight_left: Tensor,
        weight: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
    ) -> Tensor:
        """Args:
            pred (Tensor): Edge distribution logits, shape (m, N + 1).
            target (Tensor): Left-bin positions (floats), shape (m,).
            weight_right (Tensor): Weight of bin floor(target) + 1, (m,).
            weight_left (Tensor): Weight of bin floor(target), (m,).
            weight (Tensor, optional): Per-edge weight (the IoU of the
                query's box), shape (m,). Defaults to None (ones).
            avg_factor (float, optional): Normaliser. Defaults to None
                (plain sum).

        Returns:
            Tensor: Scalar loss.
        """
        left = target.long()
        loss = (
            F.cross_entropy(pred, left, reduction='none') * weight_left
            + F.cross_entropy(pred, left + 1, reduction='none') * weight_right
        )
        if weight is not None:
            loss = loss * weight.to(loss.dtype)
        loss = loss.sum()
        if avg_factor is not None:
            loss = loss / avg_factor
        return self.loss_weight * loss
