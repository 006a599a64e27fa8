"""Photometric distortion as the original D-FINE pipeline applies it."""

from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class DFinePhotometricDistort(BaseTransform):
    """Random photometric distortion with torchvision's semantics (v2
    ``RandomPhotometricDistort``, used by the original D-FINE).

    Each step runs with probability ``prob``: brightness (multiplicative
    factor), then contrast either before or after saturation and hue (coin
    flip), then a random permutation of the channels. mmdet's
    ``PhotoMetricDistortion`` differs (additive brightness, no channel
    permutation).

    Required keys: ``img`` (uint8 or float, HxWx3, BGR). Modified: ``img``
    (float32).

    Args:
        brightness (tuple[float]): Factor range. Defaults to (0.875, 1.125).
        contrast (tuple[float]): Factor range. Defaults to (0.5, 1.5).
        saturation (tuple[float]): Factor range. Defaults to (0.5, 1.5).
        hue (tuple[float]): Shift range as a fraction of the hue circle.
            Defaults to (-0.05, 0.05).
        prob (float): Probability of each step. Defaults to 0.5.
    """

    def __init__(
        self,
        brightness: Tuple[float, float] = (0.875, 1.125),
        contrast: Tuple[float, float] = (0.5, 1.5),
        saturation: Tuple[float, float] = (0.5, 1.5),
        hue: Tuple[float, float] = (-0.05, 0.05),
        prob: float = 0.5,
    ) -> None:
        self.brightness = tuple(brightness)
        self.contrast = tuple(contrast)
        self.saturation = tuple(saturation)
        self.hue = tuple(hue)
        self.prob = prob

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32)
        rng = np.random
        if rng.rand() < self.prob:
            img = img * rng.uniform(*self.brightness)
            img = img.clip(0, 255)
        contrast_first = rng.rand() < 0.5
        if contrast_first and rng.rand() < self.prob:
            img = self._contrast(img, rng.uniform(*self.contrast))
        if rng.rand() < self.prob:
            grey = self._grey(img)[..., None]
            factor = rng.uniform(*self.saturation)
            img = (factor * img + (1 - factor) * grey).clip(0, 255)
        if rng.rand() < self.prob:
            img = self._shift_hue(img, rng.uniform(*self.hue))
        if not contrast_first and rng.rand() < self.prob:
            img = self._contrast(img, rng.uniform(*self.contrast))
        if rng.rand() < self.prob:
            img = img[..., rng.permutation(3)]
        results['img'] = np.ascontiguousarray(img, dtype=np.float32)
        return results

    @staticmethod
    def _grey(img: np.ndarray) -> np.ndarray:
        """ITU-R 601 luma of a BGR image."""
        return 0.114 * img[..., 0] + 0.587 * img[..., 1] + 0.299 * img[..., 2]

    def _contrast(self, img: np.ndarray, factor: float) -> np.ndarray:
        mean = self._grey(img).mean()
        return (factor * img + (1 - factor) * mean).clip(0, 255)

    @staticmethod
    def _shift_hue(img: np.ndarray, shift: float) -> np.ndarray:
        hsv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0] + shift * 360.0) % 360.0
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).clip(0, 1) * 255.0

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(brightness={self.brightness}, '
            f'contrast={self.contrast}, saturation={self.saturation}, '
            f'hue={self.hue}, prob={self.prob})'
        )
