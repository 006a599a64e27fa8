"""Decoupled Distillation Focal (DDF) loss of D-FINE's GO-LSD."""

import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class DFineDDFLoss(nn.Module):
    """Distils the last decoder layer's edge distributions into a layer's.

    Per edge, with student logits s, teacher logits t (detached) and
    temperature T::

        l = weight * T**2 * KL(softmax(t / T) || softmax(s / T))

    (KL summed over the bins). ``weight`` is the IoU of the query's box with
    its ground truth for matched queries and the teacher's best class
    confidence for the others. Matched and unmatched edges are averaged
    separately and mixed with weights ``num_pos`` and ``num_neg`` (the
    square roots of their batch-size-normalised counts), so neither group
    dominates::

        loss = (mean_pos(l) * num_pos + mean_neg(l) * num_neg)
               / (num_pos + num_neg)

    Args:
        temperature (float): T. Defaults to 5.0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.5.
    """

    def __init__(
        self, temperature: float = 5.0, loss_weight: float = 1.5
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: Tensor,
        teacher: Tensor,
        weight: Tensor,
        positive: Tensor,
        num_pos: float,
        num_neg: float,
    ) -> Tensor:
        """Args:
            pred (Tensor): Student edge logits, shape (m, N + 1).
            teacher (Tensor): Teacher edge logits, shape (m, N + 1); detached
                here.
            weight (Tensor): Per-edge weight, shape (m,); detached here.
            positive (Tensor): Bool (m,), edges of matched queries.
            num_pos (float): Mixing weight of the matched edges' mean.
            num_neg (float): Mixing weight of the unmatched edges' mean.

        Returns:
            Tensor: Scalar loss.
        """
        t = self.temperature
        log_student = F.log_softmax(pred / t, dim=-1)
        teacher = F.softmax(teacher.detach() / t, dim=-1)
        kl = F.kl_div(log_student, teacher, reduction='none').sum(-1)
        loss = weight.detach().to(kl.dtype) * (t * t) * kl
        # each group's mean as a masked sum over its count (0 for an empty
        # group): no read to the host, so no synchronisation on CUDA
        count_pos = positive.sum()
        count_neg = positive.numel() - count_pos
        mean_pos = loss.where(positive, 0).sum() / count_pos.clamp(min=1)
        mean_neg = loss.where(~positive, 0).sum() / count_neg.clamp(min=1)
        total = mean_pos * num_pos + mean_neg * num_neg
        return self.loss_weight * total / (num_pos + num_neg)
