"""DFineSelfAttention: nn.MultiheadAttention's results, with the packed
path for self-attention (queries equal keys) taken where it applies."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dfine_mm.models.layers import DFineCdnQueryGenerator
from dfine_mm.models.layers.dfine_self_attention import (
    DFineSelfAttention,
    trailing_block_start,
)


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


def _assert_same_gradients(attn, x, out, expected, rtol, atol):
    """Gradients of ``sum(out ** 2)`` and ``sum(expected ** 2)`` agree for
    the input and the projections."""
    params = [x, attn.in_proj_weight, attn.in_proj_bias,
              attn.out_proj.weight]  # fmt: skip
    grads = torch.autograd.grad(out.square().sum(), params)
    wanted = torch.autograd.grad(expected.square().sum(), params)
    for grad, want in zip(grads, wanted):
        torch.testing.assert_close(grad, want, rtol=rtol, atol=atol)


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
    _assert_same_gradients(attn, x, out, expected, rtol=1e-5, atol=1e-6)


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


def _denoising_mask(num_dn=12, group=4, matching=9):
    generator = DFineCdnQueryGenerator(
        num_classes=5, embed_dims=16, num_matching_queries=matching
    )
    return generator._attention_mask(num_dn, group, torch.device('cpu'))


def test_trailing_block_start():
    assert trailing_block_start(_denoising_mask()) == 12
    assert trailing_block_start(_group_mask()) == 3
    assert trailing_block_start(None) == 0
    assert trailing_block_start(torch.zeros(0, 0, dtype=torch.bool)) == 0
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    assert trailing_block_start(causal) == 0  # the last row sees all
    mask = _denoising_mask()
    mask[13, 2] = False  # one matching query sees a denoising one
    assert trailing_block_start(mask) == 0
    mask = _denoising_mask()
    mask[-2, -1] = True  # the trailing block is not fully visible
    assert trailing_block_start(mask) == 0
    # off the CPU the mask is not read (no host synchronisation)
    assert trailing_block_start(_denoising_mask().to('meta')) == 0


def test_the_trailing_queries_attend_to_their_keys_alone(monkeypatch):
    """With D-FINE's denoising mask the matching queries attend to the
    matching keys without a mask, the denoising ones with their mask rows:
    the base class's values and gradients (float64), in two calls."""
    torch.manual_seed(0)
    attn = DFineSelfAttention(16, 2).double()
    x = torch.randn(2, 21, 16, dtype=torch.float64, requires_grad=True)
    query_key = x + torch.randn(1, 21, 16, dtype=torch.float64)
    mask = _denoising_mask()
    expected = _base(attn, query_key, query_key, x, attn_mask=mask,
                     need_weights=False)[0]  # fmt: skip
    shapes, real = [], F.scaled_dot_product_attention

    def sdpa(q, k, v, attn_mask=None, **kwargs):
        shapes.append((q.shape[2], k.shape[2], attn_mask is not None))
        return real(q, k, v, attn_mask, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', sdpa)
    out = attn(query_key, query_key, x, attn_mask=mask, need_weights=False)[0]
    assert shapes == [(12, 21, True), (9, 9, False)]
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    _assert_same_gradients(attn, x, out, expected, rtol=1e-12, atol=1e-12)
