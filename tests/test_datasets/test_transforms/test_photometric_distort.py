"""DFinePhotometricDistort, one step at a time, against closed forms.

Each test fixes numpy's global draws so that exactly one step runs, then
compares the output with the step's formula written out here (torchvision
v2 ``RandomPhotometricDistort`` semantics, on a BGR image):

- brightness: ``clip(f * x, 0, 255)``;
- contrast: ``clip(f * x + (1 - f) * mean(grey(x)), 0, 255)``;
- saturation: ``clip(f * x + (1 - f) * grey(x), 0, 255)`` per pixel;
- hue: rotate the HSV hue by ``shift`` of the full circle;
- channel permutation: ``x[..., perm]``.

Two intentional differences from torchvision are kept by the transform
and therefore by these formulas: grey is ITU-R 601 luma with weights
0.299 / 0.587 / 0.114 (torchvision uses 0.2989 for red), and the image
stays float32 between steps (torchvision rounds a uint8 image after each
step).

Tolerance: 1e-3 on the 0-255 scale for every step. The transform works in
float32 (relative error about 6e-8, so at most a few 1e-5 after the few
operations of a step at 255). Hue goes through cv2's float32 HSV
conversion (not the 8-bit one: the image is float32 in [0, 1] there);
against ``colorsys`` in float64 it is off by at most about 2e-4. Every
defect these tests name moves some pixel by more than 0.5.
"""

import colorsys

import numpy as np
import pytest
from mmdet.registry import TRANSFORMS

ATOL = 1e-3
# draws of np.random.rand that open (0.0) or close (0.99) a gate of
# probability 0.5, and the coin that puts contrast first (0.0) or last
OPEN, CLOSED = 0.0, 0.99


def _image():
    """A 6x8 BGR uint8 image whose channels differ on average (blue high,
    red low), so that luma weights and channel order matter, with values
    close to 255 so that a brightness or saturation factor above 1
    saturates."""
    rng = np.random.default_rng(0)
    blue = rng.integers(150, 256, (6, 8))
    green = rng.integers(60, 220, (6, 8))
    red = rng.integers(0, 120, (6, 8))
    return np.stack([blue, green, red], -1).astype(np.uint8)


def _grey(img):
    """ITU-R 601 luma of a float64 BGR image: 0.299 R + 0.587 G + 0.114 B
    (torchvision: 0.2989 R)."""
    blue, green, red = img[..., 0], img[..., 1], img[..., 2]
    return 0.299 * red + 0.587 * green + 0.114 * blue


def _rand_draws(active, contrast_first=True):
    """The values of np.random.rand, in the transform's order of draws:
    brightness gate, contrast-first coin, contrast gate if first,
    saturation gate, hue gate, contrast gate if last, permutation gate."""

    def gate(step):
        return OPEN if step == active else CLOSED

    draws = [gate('brightness'), OPEN if contrast_first else CLOSED]
    if contrast_first:
        draws.append(gate('contrast'))
    draws += [gate('saturation'), gate('hue')]
    if not contrast_first:
        draws.append(gate('contrast'))
    draws.append(gate('permute'))
    return draws


def _distort(
    monkeypatch,
    img,
    active,
    factor=None,
    perm=(0, 1, 2),
    contrast_first=True,
    **cfg,
):
    """Run the transform with only ``active`` open. np.random.uniform
    returns ``factor``, np.random.permutation returns ``perm``; both
    record their arguments, and every scripted rand draw must be used.

    Returns:
        tuple: The float32 output image, the list of (low, high) passed
        to np.random.uniform and the list of sizes passed to
        np.random.permutation.
    """
    rand = iter(_rand_draws(active, contrast_first))
    uniform_args, permutation_args = [], []

    def fake_uniform(low, high):
        uniform_args.append((low, high))
        return factor

    def fake_permutation(n):
        permutation_args.append(n)
        return np.array(perm)

    monkeypatch.setattr(np.random, 'rand', lambda: next(rand))
    monkeypatch.setattr(np.random, 'uniform', fake_uniform)
    monkeypatch.setattr(np.random, 'permutation', fake_permutation)
    distort = TRANSFORMS.build(
        dict(type='DFinePhotometricDistort', prob=0.5, **cfg)
    )
    out = distort(dict(img=img.copy()))['img']
    assert next(rand, None) is None, 'not every gate was drawn'
    assert out.dtype == np.float32 and out.shape == img.shape
    return out, uniform_args, permutation_args


def test_brightness_multiplies_then_clamps(monkeypatch):
    img = _image()
    out, uniform_args, _ = _distort(
        monkeypatch, img, 'brightness', factor=1.125
    )
    assert uniform_args == [(0.875, 1.125)]
    scaled = img.astype(np.float64) * 1.125
    # the clamp must bite: without it, these pixels would pass 255
    assert (scaled > 255.5).sum() >= 5
    np.testing.assert_allclose(out, scaled.clip(0, 255), rtol=0, atol=ATOL)
    # float between steps: 1.125 * odd pixels keeps its fraction (a uint8
    # round trip per step, as torchvision does, would drop it)
    assert not np.allclose(out, out.round())


@pytest.mark.parametrize('contrast_first', [True, False])
def test_contrast_blends_with_mean_grey(monkeypatch, contrast_first):
    img = _image()
    out, uniform_args, _ = _distort(
        monkeypatch,
        img,
        'contrast',
        factor=0.5,
        contrast_first=contrast_first,
    )
    assert uniform_args == [(0.5, 1.5)]
    x = img.astype(np.float64)
    mean = _grey(x).mean()
    expected = (0.5 * x + 0.5 * mean).clip(0, 255)
    np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL)


def test_contrast_above_one_clamps(monkeypatch):
    img = _image()
    out, _, _ = _distort(monkeypatch, img, 'contrast', factor=1.5)
    x = img.astype(np.float64)
    raw = 1.5 * x - 0.5 * _grey(x).mean()
    assert (raw > 255.5).any() and (raw < -0.5).any()
    np.testing.assert_allclose(out, raw.clip(0, 255), rtol=0, atol=ATOL)


@pytest.mark.parametrize('factor', [0.5, 1.5])
def test_saturation_blends_with_grey(monkeypatch, factor):
    img = _image()
    out, uniform_args, _ = _distort(
        monkeypatch, img, 'saturation', factor=factor
    )
    assert uniform_args == [(0.5, 1.5)]
    x = img.astype(np.float64)
    raw = factor * x + (1 - factor) * _grey(x)[..., None]
    if factor > 1:  # oversaturation leaves [0, 255]: the clamp must bite
        assert (raw > 255.5).any() and (raw < -0.5).any()
    np.testing.assert_allclose(out, raw.clip(0, 255), rtol=0, atol=ATOL)


def _hue_shifted(img, shift):
    """Rotate the hue of a BGR image by ``shift`` of the circle, through
    the standard RGB <-> HSV formulas (Python's ``colorsys``, float64)."""
    out = np.empty(img.shape, np.float64)
    for idx in np.ndindex(img.shape[:2]):
        blue, green, red = img[idx].astype(np.float64) / 255.0
        h, s, v = colorsys.rgb_to_hsv(red, green, blue)
        red, green, blue = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
        out[idx] = (blue * 255.0, green * 255.0, red * 255.0)
    return out


@pytest.mark.parametrize('shift', [0.05, -0.05])
def test_hue_rotates_in_hsv(monkeypatch, shift):
    img = _image()
    out, uniform_args, _ = _distort(monkeypatch, img, 'hue', factor=shift)
    assert uniform_args == [(-0.05, 0.05)]
    np.testing.assert_allclose(
        out, _hue_shifted(img, shift), rtol=0, atol=ATOL
    )


def test_hue_third_of_circle_cycles_channels(monkeypatch):
    """A hue rotation by 1/3 of the circle maps red to green, green to
    blue and blue to red exactly (HSV's hexcone is symmetric under it),
    a check that needs no HSV formula and fixes the direction and the
    channel order (BGR): new G = R, new B = G, new R = B."""
    img = _image()
    out, _, _ = _distort(
        monkeypatch, img, 'hue', factor=1 / 3, hue=(-0.5, 0.5)
    )
    blue, green, red = np.moveaxis(img.astype(np.float64), -1, 0)
    expected = np.stack([green, red, blue], -1)
    np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL)


def test_channel_permutation(monkeypatch):
    img = _image()
    out, uniform_args, permutation_args = _distort(
        monkeypatch, img, 'permute', perm=(2, 0, 1)
    )
    assert uniform_args == [] and permutation_args == [3]
    expected = np.stack([img[..., 2], img[..., 0], img[..., 1]], -1)
    np.testing.assert_array_equal(out, expected.astype(np.float32))


def test_all_gates_closed_is_identity(monkeypatch):
    img = _image()
    out, uniform_args, permutation_args = _distort(monkeypatch, img, None)
    assert uniform_args == [] and permutation_args == []
    np.testing.assert_array_equal(out, img.astype(np.float32))
