"""AIFIEncoderLayer: a post-norm encoder layer whose position embedding
reaches queries and keys, not values."""

import torch
from torch import nn

from dfine_mm.models.layers.aifi_encoder_layer import AIFIEncoderLayer


def _layers():
    torch.manual_seed(0)
    ours = AIFIEncoderLayer(16, 2, 32, dict(type='GELU')).eval()
    plain = nn.TransformerEncoderLayer(
        16, 2, 32, dropout=0.0, activation='gelu', batch_first=True
    ).eval()
    plain.load_state_dict(ours.state_dict())  # the same parameter names
    return ours, plain


def test_without_position_it_is_a_post_norm_encoder_layer():
    ours, plain = _layers()
    x = torch.randn(2, 6, 16)
    out = ours(x, torch.zeros(1, 6, 16))
    assert torch.allclose(out, plain(x), atol=1e-5)


def test_the_position_embedding_skips_the_values():
    ours, _ = _layers()
    x, pos = torch.randn(2, 6, 16), torch.randn(1, 6, 16)
    attn = ours.self_attn
    expected = attn(x + pos, x + pos, x, need_weights=False)[0]
    expected = ours.norm1(x + expected)
    ffn = ours.linear2(ours.activation(ours.linear1(expected)))
    expected = ours.norm2(expected + ffn)
    assert torch.allclose(ours(x, pos), expected, atol=1e-6)
