"""DEIM's Mosaic (Dense O2O): four images on a 2 x 2 canvas, then a random
affine warp."""

import math
import random
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes


@TRANSFORMS.register_module()
class DEIMMosaic(BaseTransform):
    """DEIM's Mosaic (``engine/data/transforms/mosaic.py`` of the original).

    With probability ``prob``: the image and three others (``mix_results``,
    given by mmdet's ``MultiImageMixDataset`` through :meth:`get_indexes`)
    are resized so that their shorter side is ``output_size`` (aspect kept),
    pasted at the top-left corners of the four cells of a canvas
    2 * max(w) x 2 * max(h) filled with ``fill``, and the canvas is warped
    by a random affine map about its centre (rotation in
    +-``rotation_range`` degrees, translation within +-``translation_range``
    of the canvas size, scale in ``scaling_range``; nearest neighbour,
    ``fill`` outside), keeping the canvas size. Each box becomes the
    axis-aligned box around its warped corners, clipped to the canvas; boxes
    that end up empty are left to ``DFineSanitizeBoxes``, as in the
    original. The result carries ``deim_mosaic=True`` (:class:`
    DEIMSkipAfterMosaic` then skips zoom-out and IoU crop for it).

    Differs from mmdet's ``Mosaic`` (random centre, crop to a fixed size,
    grey padding, no warp), whose output the original does not produce.

    Required keys: ``img``, ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``, ``mix_results``. Modified: the same and
    ``img_shape``; added: ``deim_mosaic``.

    Args:
        output_size (int): Shorter side of each resized image. Defaults
            to 320.
        rotation_range (float): Degrees. Defaults to 10.
        translation_range (tuple[float]): Fractions of the canvas width and
            height. Defaults to (0.1, 0.1).
        scaling_range (tuple[float]): Defaults to (0.5, 1.5).
        fill (int): Canvas and warp fill value. Defaults to 0.
        prob (float): Probability of the mosaic. Defaults to 1.0.
    """

    def __init__(
        self,
        output_size: int = 320,
        rotation_range: float = 10.0,
        translation_range: Tuple[float, float] = (0.1, 0.1),
        scaling_range: Tuple[float, float] = (0.5, 1.5),
        fill: int = 0,
        prob: float = 1.0,
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.output_size = output_size
        self.rotation_range = rotation_range
        self.translation_range = tuple(translation_range)
        self.scaling_range = tuple(scaling_range)
        self.fill = fill
        self.prob = prob

    def get_indexes(self, dataset) -> List[int]:
        """Three other images, drawn with replacement (as the original).

        Raises:
            ValueError: A data set of fewer than 4 images.
        """
        if len(dataset) < 4:
            raise ValueError(
                f'DEIMMosaic needs a data set of at least 4 images, got '
                f'{len(dataset)}; remove it from the pipeline for this data'
            )
        return [random.randrange(len(dataset)) for _ in range(3)]

    def _resized(self, result: dict) -> Tuple[np.ndarray, np.ndarray]:
        """The image with its shorter side at ``output_size`` and its
        boxes (n, 4) xyxy scaled with it."""
        img = result['img']
        h, w = img.shape[:2]
        scale = self.output_size / min(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        boxes = np.asarray(result['gt_bboxes'].numpy(), np.float32)
        factor = np.array(
            [size[0] / w, size[1] / h, size[0] / w, size[1] / h], np.float32
        )
        return img, boxes.reshape(-1, 4) * factor

    def _affine(self, width: int, height: int) -> np.ndarray:
        """A random 2 x 3 map about the canvas centre."""
        angle = math.radians(random.uniform(-1, 1) * self.rotation_range)
        scale = random.uniform(*self.scaling_range)
        tx = round(random.uniform(-1, 1) * self.translation_range[0] * width)
        ty = round(random.uniform(-1, 1) * self.translation_range[1] * height)
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        cx, cy = width / 2, height / 2
        return np.array(
            [[cos, -sin, cx - cos * cx + sin * cy + tx],
             [sin, cos, cy - sin * cx - cos * cy + ty]], np.float64,
        )  # fmt: skip

    @staticmethod
    def warp_boxes(
        boxes: np.ndarray, matrix: np.ndarray, size: Tuple[int, int]
    ) -> np.ndarray:
        """The boxes (n, 4) xyxy around their corners under ``matrix``,
        clipped to ``size`` (width, height)."""
        x1, y1, x2, y2 = boxes.T
        corners = np.stack([x1, y1, x2, y1, x1, y2, x2, y2], -1).reshape(
            -1, 4, 2
        )
        moved = corners @ matrix[:, :2].T + matrix[:, 2]
        out = np.concatenate([moved.min(1), moved.max(1)], -1)
        out[:, 0::2] = out[:, 0::2].clip(0, size[0])
        out[:, 1::2] = out[:, 1::2].clip(0, size[1])
        return out.astype(np.float32)

    def transform(self, results: dict) -> Optional[dict]:
        if random.random() >= self.prob:
            results['deim_mosaic'] = False
            return results
        parts: Sequence[dict] = [results, *results['mix_results'][:3]]
        resized = [self._resized(part) for part in parts]
        cell_w = max(img.shape[1] for img, _ in resized)
        cell_h = max(img.shape[0] for img, _ in resized)
        channels = results['img'].shape[2:]
        canvas = np.full((2 * cell_h, 2 * cell_w, *channels), self.fill,
                         dtype=results['img'].dtype)  # fmt: skip
        boxes, labels, ignore = [], [], []
        for index, ((img, part_boxes), part) in enumerate(zip(resized, parts)):
            dx, dy = (index % 2) * cell_w, (index // 2) * cell_h
            canvas[dy : dy + img.shape[0], dx : dx + img.shape[1]] = img
            boxes.append(part_boxes + np.array([dx, dy, dx, dy], np.float32))
            labels.append(np.asarray(part['gt_bboxes_labels']))
            ignore.append(np.asarray(part['gt_ignore_flags']))
        size = (2 * cell_w, 2 * cell_h)
        matrix = self._affine(*size)
        results['img'] = cv2.warpAffine(
            canvas, matrix, size, flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(self.fill,) * 3,
        )  # fmt: skip
        results['img_shape'] = results['img'].shape[:2]
        warped = self.warp_boxes(np.concatenate(boxes), matrix, size)
        results['gt_bboxes'] = HorizontalBoxes(warped)
        results['gt_bboxes_labels'] = np.concatenate(labels).astype(np.int64)
        results['gt_ignore_flags'] = np.concatenate(ignore).astype(bool)
        results['deim_mosaic'] = True
        return results
