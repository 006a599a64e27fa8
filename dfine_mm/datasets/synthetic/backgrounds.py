"""Textured and noisy backgrounds for the synthetic detection data set."""

from typing import Callable, Dict

import cv2
import numpy as np


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(30, 225, size=3)


def _nearby_colour(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    return np.clip(base + rng.uniform(-45, 45, size=3), 0, 255)


def _coords(size: int):
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs / size, ys / size


def _flat_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    return np.broadcast_to(_colour(rng), (size, size, 3)).astype(np.float32)


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    c1 = _colour(rng)
    c2 = _nearby_colour(rng, c1)
    xs, ys = _coords(size)
    angle = rng.uniform(0, 2 * np.pi)
    t = xs * np.cos(angle) + ys * np.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return c1 + t[..., None] * (c2 - c1)


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    c1 = _colour(rng)
    c2 = _nearby_colour(rng, c1)
    xs, ys = _coords(size)
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(3, 14)
    wave = np.sin(2 * np.pi * freq * (xs * np.cos(angle) + ys * np.sin(angle)))
    t = 0.5 + 0.5 * wave
    return c1 + t[..., None] * (c2 - c1)


def _clouds(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = int(rng.integers(3, 12))
    low = rng.uniform(-1, 1, size=(cells, cells, 3)).astype(np.float32)
    smooth = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    amplitude = rng.uniform(15, 45)
    return _colour(rng) + amplitude * smooth


def _checker(rng: np.random.Generator, size: int) -> np.ndarray:
    c1 = _colour(rng)
    c2 = _nearby_colour(rng, c1)
    cell = int(rng.integers(6, max(7, size // 6)))
    ys, xs = np.mgrid[0:size, 0:size]
    parity = ((xs // cell + ys // cell) % 2).astype(np.float32)
    return c1 + parity[..., None] * (c2 - c1)


BACKGROUNDS: Dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    'flat': _flat_noise,
    'gradient': _gradient,
    'stripes': _stripes,
    'clouds': _clouds,
    'checker': _checker,
}


def make_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw a random textured background with pixel noise.

    Args:
        rng (numpy.random.Generator): Source of randomness.
        size (int): Height and width in pixels.

    Returns:
        numpy.ndarray: float32 image of shape (size, size, 3), values in
        [0, 255], channel order BGR.
    """
    names = tuple(BACKGROUNDS)
    kind = names[int(rng.integers(len(names)))]
    image = np.asarray(BACKGROUNDS[kind](rng, size), dtype=np.float32)
    noise_sigma = rng.uniform(3, 22)
    image = image + rng.normal(0, noise_sigma, size=image.shape)
    return np.clip(image, 0, 255).astype(np.float32)
