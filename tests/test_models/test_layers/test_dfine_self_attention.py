"""DFineSelfAttention: nn.MultiheadAttention's results, with the packed
path for self-attention (queries equal keys) taken where it applies."""

import pytest
import torch
from torch import nn

from dfine_mm.models.layers.dfine_self_attention import DFineSelfAttention


def _inputs(num=7):
    torch.manual_seed(0)
    attn = DFineSelfAttention(16, 2)
    x = torch.randn(2, num, 16, requires_grad=True)
    return attn, x, x + torch.randn(1, num, 16)


def _group_mask():  # True: not allowed (a denoising group boundary)
    mask = torch.zeros(7, 7, dtype=torch.bool)
    mask[:3, 3:] = mask[3:, :3] = True
    return mask


def _base(attn, *args, **kwargs):
    return nn.MultiheadAttention.forward(attn, *args, **kwargs)


@pytest.mark.parametrize('masked', [False, True])
def test_the_packed_path_equals_the_base_class(masked, monkeypatch):
    attn, x, query_key = _inputs()
    mask = _group_mask() if masked else None
    expected = _base(attn, query_key, query_key, x, attn_mask=mask,
                     need_weights=False)[0]  # fmt: skip
    # the packed path is taken: the base class's forward is not called
    monkeypatch.setattr(nn.MultiheadAttention, 'forward', None)
    out, weights = attn(query_key, query_key, x, attn_mask=mask,
                        need_weights=False)  # fmt: skip
    assert weights is None
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    params = [x, attn.in_proj_weight, attn.in_proj_bias,
              attn.out_proj.weight]  # fmt: skip
    grads = torch.autograd.grad(out.square().sum(), params)
    wanted = torch.autograd.grad(expected.square().sum(), params)
    for grad, want in zip(grads, wanted):
        torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-6)


def test_a_mask_keeps_the_groups_apart():
    """True entries block attention: the first three queries' outputs do
    not depend on the other tokens at all."""
    attn, x, query_key = _inputs()
    out = attn(x, x, x, attn_mask=_group_mask(), need_weights=False)[0]
    (grad,) = torch.autograd.grad(out[:, :3].sum(), x)
    assert grad[:, 3:].abs().max() == 0 and grad[:, :3].abs().max() > 0


@pytest.mark.parametrize('call', ['weights', 'other_key', 'padding'])
def test_other_calls_are_the_base_classes(call):
    attn, x, query_key = _inputs()
    args, kwargs = (query_key, query_key, x), dict(need_weights=False)
    if call == 'weights':
        kwargs = dict(need_weights=True)
    elif call == 'other_key':
        args = (query_key, query_key.clone(), x)
    else:
        kwargs['key_padding_mask'] = torch.zeros(2, 7, dtype=torch.bool)
    out, weights = attn(*args, **kwargs)
    expected, expected_weights = _base(attn, *args, **kwargs)
    assert torch.equal(out, expected)
    assert (weights is None) == (call != 'weights')
    if weights is not None:
        assert torch.equal(weights, expected_weights)


def test_hooks_and_dropout():
    """Module hooks see the packed calls (the fp16 check and the modules
    kept fp32 rely on them); dropout acts only in training."""
    attn, x, query_key = _inputs()
    calls = []
    attn.register_forward_hook(lambda *_: calls.append(1))
    attn.dropout = 0.5
    attn.eval()
    first = attn(query_key, query_key, x, need_weights=False)[0]
    again = attn(query_key, query_key, x, need_weights=False)[0]
    assert torch.equal(first, again) and len(calls) == 2
    attn.train()
    dropped = attn(query_key, query_key, x, need_weights=False)[0]
    assert not torch.allclose(first, dropped)
