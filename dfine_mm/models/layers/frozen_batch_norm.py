"""A BatchNorm2d whose statistics and affine transform never change.

D-FINE-L and D-FINE-X build their HGNetV2 backbone with ``freeze_norm=True``
(``src/nn/backbone/common.py`` of the official repo): every BatchNorm2d is
replaced by a frozen one whose four tensors are buffers, not parameters.
"""

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and a fixed affine transform.

    It computes ``y = x * w / sqrt(var + eps) + (b - mean * w / sqrt(var +
    eps))`` per channel in training and in evaluation alike. ``weight``,
    ``bias``, ``running_mean`` and ``running_var`` are buffers, so they are
    saved in the state dict (these four keys only, no
    ``num_batches_tracked``) but are never returned by ``parameters()``.

    A ``num_batches_tracked`` entry in a loaded state dict (e.g. from a
    checkpoint trained with ordinary BatchNorm, such as the ImageNet
    ``PPHGNetV2_*_stage1.pth`` weights) is dropped, as the official code does.

    Unlike mmdet's ``FrozenBN`` (``running_var`` initialised to ``1 - eps``),
    a fresh module is initialised like the official one: weight 1, bias 0,
    mean 0, variance 1.

    Args:
        num_features (int): Number of channels C of an input of shape
            (N, C, H, W).
        eps (float): Value added to the variance for numerical stability.
            Defaults to 1e-5.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer('weight', torch.ones(num_features))
        self.register_buffer('bias', torch.zeros(num_features))
        self.register_buffer('running_mean', torch.zeros(num_features))
        self.register_buffer('running_var', torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape (N, C, H, W) with the frozen statistics."""
        if x.requires_grad:
            # A multiply-add keeps only the per-channel scale for backward,
            # whereas batch_norm's backward would also keep its input alive.
            scale = self.weight * torch.rsqrt(self.running_var + self.eps)
            shift = self.bias - self.running_mean * scale
            return x * scale.to(x.dtype).view(1, -1, 1, 1) + shift.to(
                x.dtype
            ).view(1, -1, 1, 1)
        # Without autograd the fused kernel is the fastest; on CPU it
        # evaluates the very same scale/shift form as the branch above.
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            momentum=0.0,
            eps=self.eps,
        )

    def _load_from_state_dict(
        self,
        state_dict: Dict[str, Tensor],
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: List[str],
        unexpected_keys: List[str],
        error_msgs: List[str],
    ) -> None:
        state_dict.pop(prefix + 'num_batches_tracked', None)
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )

    def extra_repr(self) -> str:
        return f'{self.num_features}, eps={self.eps}'
