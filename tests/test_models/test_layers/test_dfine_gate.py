"""DFineGate: the gated residual after the decoder's cross-attention."""

import torch
from torch import nn

from dfine_mm.models.layers import DFineGate


def test_the_gates_start_half_open():
    torch.manual_seed(0)
    gate = DFineGate(8)
    residual, update = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    expected = nn.functional.layer_norm(0.5 * (residual + update), (8,))
    assert torch.allclose(gate(residual, update), expected, atol=1e-6)
    assert sorted(gate.state_dict()) == [
        'gate.bias',
        'gate.weight',
        'norm.bias',
        'norm.weight',
    ]


def test_learned_gates_weigh_each_input():
    torch.manual_seed(0)
    gate = DFineGate(4)
    with torch.no_grad():  # keep the residual, drop the update
        gate.gate.bias.copy_(torch.tensor([50.0] * 4 + [-50.0] * 4))
    residual, update = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    expected = nn.functional.layer_norm(residual, (4,))
    assert torch.allclose(gate(residual, update), expected, atol=1e-5)
