"""``FoldedReLUAffine``: HGNetV2's ReLU + learnable affine block after the
affine scale went into the convolution before them, as one clamp."""

import pytest
import torch

from dfine_mm.models.layers.folded_relu_affine import FoldedReLUAffine


@pytest.mark.parametrize('scale', [0.7, -0.7])
def test_the_clamp_is_relu_then_the_affine_map(scale):
    """``s * relu(c) + b`` is ``s * c + b`` clamped at ``b``: from below
    for ``s > 0``, from above for ``s < 0``."""
    torch.manual_seed(0)
    c = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    bias = torch.tensor([0.3], dtype=torch.float64)
    folded = FoldedReLUAffine(bias, upper=scale < 0)
    expected = scale * torch.relu(c) + bias
    torch.testing.assert_close(
        folded(scale * c + bias), expected, rtol=0, atol=1e-15
    )


def test_the_bound_is_a_buffer_of_its_own():
    bias = torch.tensor([0.3], requires_grad=True)
    folded = FoldedReLUAffine(bias)
    with torch.no_grad():
        bias.add_(1.0)
    assert folded.bound.item() == pytest.approx(0.3)
    assert not folded.bound.requires_grad
    assert list(folded.state_dict()) == ['bound']
