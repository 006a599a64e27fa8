"""DEIM's Matchability-Aware Loss (MAL)."""

from typing import Optional

import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class DEIMMALLoss(nn.Module):
    """Matchability-Aware Loss of DEIM (Huang et al., CVPR 2025), a drop-in
    for D-FINE's varifocal loss in every FDR head (``loss_cls``).

    For logits x, p = sigmoid(x) (detached), the matched-class one-hot m
    and the IoU u of each matched query's box with its ground truth::

        s = m * u ** gamma                    (soft target)
        w = alpha * p ** gamma * (1 - m) + m   (alpha 1 unless set)
        loss = sum(w * BCEWithLogits(x, s)) / avg_factor

    Unlike the varifocal loss, a positive always weighs 1 (not u) and its
    target is u ** gamma, so low-IoU matches still pull their score up,
    and negatives are weighted by p ** gamma alone (the original's
    ``mal_alpha=None``).

    Args:
        gamma (float): Exponent of the IoU target and of the negatives'
            weight. Defaults to 1.5 (DEIM's configs).
        alpha (float, optional): Factor on the negatives' weight; None is
            1 (DEIM's configs). Defaults to None.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        use_sigmoid (bool): Must be True (a per-class sigmoid loss: the head
            builds a sigmoid classifier, no background class). Defaults to
            True.

    Raises:
        ValueError: ``use_sigmoid=False`` (a softmax classifier), when built.
    """

    #: the FDR heads give IoU targets and the matched-class mask
    iou_aware = True

    def __init__(
        self,
        gamma: float = 1.5,
        alpha: Optional[float] = None,
        loss_weight: float = 1.0,
        use_sigmoid: bool = True,
    ) -> None:
        super().__init__()
        if not use_sigmoid:
            raise ValueError(
                'DEIMMALLoss scores each class with a sigmoid and needs a '
                'sigmoid classifier (no background class): remove '
                'use_sigmoid=False from loss_cls, or use a softmax loss such '
                "as mmdet's CrossEntropyLoss"
            )
        self.use_sigmoid = True  # read by mmdet's DETR heads
        self.gamma = gamma
        self.alpha = alpha
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        positive: Tensor,
        avg_factor: Optional[float] = None,
    ) -> Tensor:
        """Args:
            pred (Tensor): Logits, shape (n, K).
            target (Tensor): IoU of the matched box at its class, 0
                elsewhere, shape (n, K).
            positive (Tensor): Bool (n, K), the one-hot of the matched
                classes (a match with IoU 0 is still positive).
            avg_factor (float, optional): Normaliser (number of ground
                truths). Defaults to the number of rows n.

        Returns:
            Tensor: Scalar loss.

        Raises:
            ValueError: Class labels instead of IoU targets (a head that is
                not an FDR head, e.g. mmdet's ``DINOHead``).
        """
        if target.shape != pred.shape or not target.is_floating_point():
            raise ValueError(
                "DEIMMALLoss takes IoU targets of the logits' shape "
                f'{tuple(pred.shape)}, got {target.dtype} '
                f'{tuple(target.shape)}: use it as loss_cls of an FDR head '
                '(DFineHead, FDRDINOHead, FDRDeformableDETRHead), which give '
                "them; mmdet's own heads give class labels"
            )
        mask = positive.to(pred.dtype)
        soft = target.to(pred.dtype).clamp(min=0).pow(self.gamma) * mask
        focal = pred.sigmoid().detach().pow(self.gamma) * (1 - mask)
        if self.alpha is not None:
            focal = self.alpha * focal
        loss = F.binary_cross_entropy_with_logits(
            pred, soft, weight=focal + mask, reduction='none'
        )
        avg_factor = len(pred) if avg_factor is None else avg_factor
        return self.loss_weight * loss.sum() / avg_factor
