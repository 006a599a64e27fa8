"""Well-conditioned random D-FINE weights for parity checks.

A freshly initialised D-FINE computes mostly zeros (zero-initialised box
heads, gates and LQEs) and its top-k query selection sits on float32
near-ties, so comparisons on it prove little or fail for no reason (see
docs/parity.md). The recipe here: transformers' model of the variant,
every float tensor perturbed, the encoder score head scaled up and the
encoder-output LayerNorm bias zeroed (a clear top-k boundary), BatchNorm
statistics set from synthetic images; then the project's converter.
"""

from typing import Dict

import numpy as np
import torch
from torch import Tensor

from ..converters.dfine import convert_dfine_state_dict
from ..datasets.synthetic import render_image
from .transformers_dfine import build_transformers_dfine, perturb_


def synthetic_images(
    height: int, width: int, num: int = 2, seed: int = 0
) -> Tensor:
    """Rendered shapes images, RGB in [0, 1], shape (num, 3, H, W)."""
    images = []
    for index in range(num):
        rng = np.random.default_rng([seed, index])
        image, _ = render_image(rng, max(height, width), 12, range(5))
        rgb = image[:height, :width, ::-1].copy()
        images.append(torch.from_numpy(rgb).permute(2, 0, 1) / 255.0)
    return torch.stack(images)


@torch.no_grad()
def calibrate_norms_(model: torch.nn.Module, images: Tensor) -> None:
    """Set every BatchNorm's statistics to those of its input on
    ``images`` (a transformers ``DFineForObjectDetection``)."""

    def set_stats(module, args):
        module.running_mean.copy_(args[0].mean((0, 2, 3)))
        module.running_var.copy_(args[0].var((0, 2, 3)))

    hooks = [
        m.register_forward_pre_hook(set_stats)
        for m in model.modules()
        if hasattr(m, 'running_mean') and hasattr(m, 'running_var')
    ]
    try:
        model(pixel_values=images)
    finally:
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def conditioned_reference(
    variant: str,
    seed: int = 0,
    num_classes: int = 80,
    dtype: torch.dtype = torch.float32,
):
    """transformers' D-FINE of ``variant`` with conditioned random weights
    (eval mode, in ``dtype``: its BatchNorm statistics are computed in it,
    so that in fp64 they are the same on any CPU and thread count)."""
    torch.manual_seed(seed)
    reference = build_transformers_dfine(variant, num_labels=num_classes)
    perturb_(reference, seed=seed, scale=0.05)
    reference.model.enc_score_head.weight.mul_(10)
    reference.model.enc_output[1].bias.zero_()
    reference.to(dtype)
    images = synthetic_images(640, 640, seed=seed).to(dtype)
    calibrate_norms_(reference, images)
    return reference


def conditioned_state_dict(
    variant: str,
    seed: int = 0,
    num_classes: int = 80,
    dtype: torch.dtype = torch.float32,
) -> Dict[str, Tensor]:
    """dfine_mm state dict of :func:`conditioned_reference` (converted),
    its floats in ``dtype``."""
    reference = conditioned_reference(variant, seed, num_classes, dtype)
    state_dict, _ = convert_dfine_state_dict(reference.state_dict())
    return state_dict
