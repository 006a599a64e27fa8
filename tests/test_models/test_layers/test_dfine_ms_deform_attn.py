import pytest
import torch

from dfine_mm.models.layers import DFineMSDeformableAttention

SHAPES = ((8, 10), (4, 5), (2, 3))


def _inputs(batch=2, queries=7, dims=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    length = sum(h * w for h, w in SHAPES)
    query = torch.randn(batch, queries, dims, generator=gen)
    value = torch.randn(batch, length, dims, generator=gen)
    ref = torch.rand(batch, queries, 4, generator=gen) * 0.6 + 0.2
    return query, ref, value


def _perturb(module, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (
            module.sampling_offsets.weight,
            module.sampling_offsets.bias,
            module.attention_weights.weight,
            module.attention_weights.bias,
        ):
            p.add_(torch.randn(p.shape, generator=gen) * 0.5)


@pytest.mark.parametrize('method', ['default', 'discrete'])
def test_matches_transformers(method):
    from transformers import DFineConfig
    from transformers.models.d_fine.modeling_d_fine import (
        DFineMultiscaleDeformableAttention,
    )

    config = DFineConfig(
        d_model=32,
        decoder_attention_heads=4,
        num_feature_levels=3,
        decoder_n_points=[3, 6, 3],
        decoder_method=method,
    )
    theirs = DFineMultiscaleDeformableAttention(config).eval()
    ours = DFineMSDeformableAttention(32, 4, (3, 6, 3), method=method)
    _perturb(ours)
    missing = theirs.load_state_dict(ours.state_dict(), strict=True)
    assert not missing.missing_keys
    query, ref, value = _inputs()
    shapes = torch.tensor(SHAPES)
    expected, _ = theirs(
        query,
        reference_points=ref[:, :, None],
        encoder_hidden_states=value,
        spatial_shapes=shapes,
        spatial_shapes_list=list(SHAPES),
    )
    got = ours(query, ref, value, SHAPES)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_initial_offsets_and_uniform_attention():
    attn = DFineMSDeformableAttention(32, 4, (2, 3))
    bias = attn.sampling_offsets.bias.view(4, 5, 2)
    # head 0 looks right (+x), head 1 up-diagonal normalised to max 1
    torch.testing.assert_close(bias[0, :, 0], torch.tensor([1.0, 2, 1, 2, 3]))
    torch.testing.assert_close(
        bias[1, 0], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0
    )
    assert torch.all(attn.attention_weights.weight == 0)
    assert attn.num_points_scale.tolist() == pytest.approx(
        [0.5, 0.5, 1 / 3, 1 / 3, 1 / 3]
    )


def test_discrete_freezes_offsets_and_validates():
    attn = DFineMSDeformableAttention(32, 4, (3, 6, 3), method='discrete')
    assert not attn.sampling_offsets.weight.requires_grad
    with pytest.raises(ValueError, match='divisible'):
        DFineMSDeformableAttention(30, 4)
    with pytest.raises(ValueError, match='discrete'):
        DFineMSDeformableAttention(32, 4, method='nearest')


def test_output_shape_and_gradients():
    attn = DFineMSDeformableAttention(32, 4, (3, 6, 3))
    _perturb(attn)
    query, ref, value = _inputs()
    value.requires_grad_(True)
    out = attn(query, ref, value, SHAPES)
    assert out.shape == (2, 7, 32)
    out.sum().backward()
    assert value.grad.abs().sum() > 0
    assert attn.sampling_offsets.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('method', ['default', 'discrete'])
def test_value_split_once_gives_the_same_output(method):
    attn = DFineMSDeformableAttention(32, 4, (3, 6, 3), method=method)
    _perturb(attn)
    query, ref, value = _inputs()
    maps = attn.split_value(value, SHAPES)
    assert [m.shape for m in maps] == [(2 * 4, 8, h, w) for h, w in SHAPES]
    # the value is the flattened feature maps: reshaping those gives the same
    feats = [
        level.transpose(1, 2).reshape(2, 32, h, w)
        for level, (h, w) in zip(
            value.split([h * w for h, w in SHAPES], 1), SHAPES
        )
    ]
    for mine, other in zip(attn.feature_value_maps(feats), maps):
        torch.testing.assert_close(mine, other, rtol=0, atol=0)
    torch.testing.assert_close(
        attn(query, ref, maps, SHAPES),
        attn(query, ref, value, SHAPES),
        rtol=0,
        atol=0,
    )


def test_channels_last_feature_maps_get_channels_last_gradients():
    """Channels-last features (``DFineChannelsLastHook``'s neck outputs)
    give the same value maps, and their gradients come back channels-last,
    the format of their other consumers' gradients (mixed formats are
    summed about 20x slower on the CPU)."""
    attn = DFineMSDeformableAttention(32, 4, (3, 6, 3))
    _perturb(attn)
    query, ref, value = _inputs()
    feats = [
        level.transpose(1, 2).reshape(2, 32, h, w)
        for level, (h, w) in zip(
            value.split([h * w for h, w in SHAPES], 1), SHAPES
        )
    ]
    leaves = [f.clone().requires_grad_() for f in feats]
    fast = [f.contiguous(memory_format=torch.channels_last) for f in leaves]
    formats = []  # the incoming gradients' (a leaf's .grad keeps its own)
    for f in fast:
        f.register_hook(
            lambda g: formats.append(
                g.is_contiguous(memory_format=torch.channels_last)
            )
        )
    plain = [f.clone().requires_grad_() for f in feats]
    out = attn(query, ref, attn.feature_value_maps(fast), SHAPES)
    expected = attn(query, ref, attn.feature_value_maps(plain), SHAPES)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    out.square().sum().backward()
    expected.square().sum().backward()
    assert formats == [True] * 3
    for mine, other in zip(leaves, plain):
        torch.testing.assert_close(mine.grad, other.grad, rtol=0, atol=0)


def _product_and_sum(samples, weights, num_points):
    """The weighted sum as one product and sum per level."""
    out = 0
    for level_samples, level_weights in zip(
        samples, weights.split(num_points, 2)
    ):
        out = out + (level_samples * level_weights).sum(2)
    return out


@pytest.mark.parametrize('grad_weights', [True, False])
def test_the_weighted_sum_accumulates_point_by_point(grad_weights):
    """Values and gradients of the product-and-sum form (float64), with no
    map of the samples' size made in the forward."""
    from torch.utils._python_dispatch import TorchDispatchMode

    torch.manual_seed(0)
    attn = DFineMSDeformableAttention(32, 4, (3, 6, 3))
    weights = torch.rand(8, 1, 12, 7, dtype=torch.float64)
    weights.requires_grad_(grad_weights)
    samples = [
        torch.randn(8, 8, points, 7, dtype=torch.float64, requires_grad=True)
        for points in (3, 6, 3)
    ]
    shapes = []

    class Shapes(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            shapes.append(tuple(out.shape))
            return out

    with Shapes():
        out = attn.weighted_sum(samples, weights)
    assert out.shape == (2, 7, 32)
    assert not [s for s in shapes if len(s) == 4 and s[2] > 1]
    expected = _product_and_sum(samples, weights, [3, 6, 3])
    torch.testing.assert_close(
        out, expected.view(2, 32, 7).transpose(1, 2), rtol=1e-12, atol=1e-12
    )
    inputs = [*samples, weights] if grad_weights else samples
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, inputs, grad)
    wanted = torch.autograd.grad(
        expected, inputs, grad.transpose(1, 2).reshape(8, 8, 7)
    )
    for a, b in zip(got, wanted):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
