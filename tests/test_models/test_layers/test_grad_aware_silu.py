"""GradAwareSiLU: in place without autograd, out of place (no copy of its
input for the backward pass) with it; SiLU's values and gradients."""

import torch
import torch.nn.functional as F

from dfine_mm.models.layers.grad_aware_silu import GradAwareSiLU
from dfine_mm.models.necks.dfine_hybrid_encoder import DFineHybridEncoder


def test_without_autograd_it_overwrites_its_input():
    x = torch.randn(2, 3, 4, 4)
    expected = F.silu(x)
    with torch.no_grad():
        y = GradAwareSiLU()(x.clone().requires_grad_(True))
    z = x.clone()
    out = GradAwareSiLU()(z)  # grad enabled, but z needs no gradient
    assert out.data_ptr() == z.data_ptr() and torch.equal(z, expected)
    assert torch.equal(y, expected)


def test_with_autograd_it_saves_its_input_without_a_copy():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    base = x * 1.0  # a non-leaf, as a norm's output
    saved = []

    def pack(tensor):
        saved.append(tensor.data_ptr())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = GradAwareSiLU()(base)
    assert saved == [base.data_ptr()]  # the input itself, no clone
    assert torch.equal(y, F.silu(x.detach()))
    y.sum().backward()
    sigmoid = x.detach().sigmoid()
    expected = sigmoid * (1 + x.detach() * (1 - sigmoid))
    torch.testing.assert_close(x.grad, expected)


def test_the_hybrid_encoders_fusion_blocks_use_it():
    neck = DFineHybridEncoder(
        in_channels=[16, 32, 64], hidden_dim=32, dim_feedforward=64
    )
    kinds = {type(m) for m in neck.modules() if isinstance(m, torch.nn.SiLU)}
    assert kinds == {GradAwareSiLU}
