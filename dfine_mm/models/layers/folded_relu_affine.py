"""HGNetV2's ReLU + learnable affine block in deploy form.

The backbone of the official D-FINE repo (``src/nn/backbone/hgnetv2.py``,
https://github.com/Peterande/D-FINE, Apache-2.0) has no deploy form: ReLU
and the affine block always run as two modules. Here
``ConvBNAct.switch_to_deploy`` puts the affine scale into the preceding
convolution, and the two become this one clamp (same outputs).
"""

import torch
from torch import Tensor, nn


class FoldedReLUAffine(nn.Module):
    """``relu`` followed by a learnable affine block, after the affine
    scale has been folded into the preceding conv: a clamp at the shift.

    Args:
        bound (Tensor): The affine shift b, shape (1,).
        upper (bool): The folded scale was negative: clamp from above.
    """

    def __init__(self, bound: Tensor, upper: bool = False) -> None:
        super().__init__()
        self.register_buffer('bound', bound.detach().clone())
        self.upper = upper

    def forward(self, x: Tensor) -> Tensor:
        """Clamp ``x`` at the bound, in place.

        Args:
            x (Tensor): The folded convolution's output, any shape, e.g.
                (B, C, H, W).

        Returns:
            Tensor: ``x`` itself, clamped.
        """
        if self.upper:
            return torch.clamp_max_(x, self.bound)
        return torch.clamp_min_(x, self.bound)
