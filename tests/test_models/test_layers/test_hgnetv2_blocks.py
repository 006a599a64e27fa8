"""HGNetV2's stem max-pools in channels-last format on the CPU: the same
values, indices and layout out."""

import torch
import torch.nn.functional as F

from dfine_mm.models.layers.hgnetv2_blocks import StemBlock


class _Recording(torch.nn.MaxPool2d):
    """The stem's pool, recording whether its input was channels-last."""

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=1)
        self.channels_last = []

    def forward(self, x):
        self.channels_last.append(
            x.is_contiguous(memory_format=torch.channels_last)
        )
        return super().forward(x)


def _stem_and_map():
    stem = StemBlock(3, 16, 24)
    stem.pool = _Recording()
    torch.manual_seed(0)
    return stem, F.relu(torch.randn(2, 16, 41, 41))  # ties: ReLU zeros


def test_max_pool_runs_channels_last_and_returns_the_input_layout():
    stem, x = _stem_and_map()
    pooled = stem.max_pool(x)
    assert stem.pool.channels_last == [True]
    assert pooled.is_contiguous()
    assert torch.equal(pooled, F.max_pool2d(x, 2, 1))
    channels_last = x.contiguous(memory_format=torch.channels_last)
    pooled = stem.max_pool(channels_last)
    assert pooled.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(pooled, F.max_pool2d(x, 2, 1))


def test_max_pool_gradient_follows_the_same_argmax():
    stem, x = _stem_and_map()
    x.requires_grad_(True)
    grad = torch.randn(2, 16, 40, 40)
    ours = torch.autograd.grad(stem.max_pool(x), x, grad)[0]
    plain = torch.autograd.grad(F.max_pool2d(x, 2, 1), x, grad)[0]
    torch.testing.assert_close(ours, plain, rtol=1e-6, atol=1e-7)


def test_the_stem_uses_it():
    stem, _ = _stem_and_map()
    out = stem(torch.randn(1, 3, 64, 64))
    assert stem.pool.channels_last == [True]
    assert out.shape == (1, 24, 16, 16)
