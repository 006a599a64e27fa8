import torch
import torch.nn.functional as F
from mmdet.models.layers.transformer.utils import MLP

from dfine_mm.models.layers.dfine_mlp import DFineMLP


def test_relu_is_mmdets_mlp_and_silu_is_silu():
    torch.manual_seed(0)
    ours = DFineMLP(6, 8, 3, 3)
    theirs = MLP(6, 8, 3, 3)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(5, 6)
    assert torch.equal(ours(x), theirs(x))
    silu = DFineMLP(6, 8, 3, 3, act_cfg=dict(type='SiLU'))
    silu.load_state_dict(ours.state_dict(), strict=True)
    first, second, third = silu.layers
    expected = third(F.silu(second(F.silu(first(x)))))
    torch.testing.assert_close(silu(x), expected)
    assert not torch.allclose(silu(x), ours(x))
