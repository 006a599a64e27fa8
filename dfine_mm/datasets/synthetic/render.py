"""Render one synthetic detection image with exact boxes.

Shapes are rasterised without anti-aliasing, so the set of pixels each
object owns is known exactly; its box is the tight box of its visible
pixels. Later shapes may cover earlier ones, but a placement is rejected if
it would leave an earlier object with less than ``MIN_VISIBLE_FRACTION`` of
its pixels visible.
"""

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from .backgrounds import make_background
from .shapes import SHAPE_CLASSES, shape_outline

MIN_SIZE = 8  # smallest longer side of a shape, in pixels
MIN_SHORT_SIDE = 5  # smallest shorter side, in pixels
MIN_VISIBLE_FRACTION = 0.6
MAX_OBJECTS = 15
_PLACEMENT_TRIES = 25
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision


@dataclass
class SyntheticObject:
    """One object of a rendered image.

    Attributes:
        label (int): 0-based class index into ``SHAPE_CLASSES``.
        bbox (tuple): Tight box of the visible pixels, (x, y, w, h) in
            pixels, COCO convention: the box covers columns x .. x + w - 1
            and rows y .. y + h - 1.
        mask (numpy.ndarray): bool (H, W) mask of the visible pixels.
    """

    label: int
    bbox: Tuple[int, int, int, int]
    mask: np.ndarray

    @property
    def area(self) -> int:
        """Number of visible pixels."""
        return int(self.mask.sum())


def _place_outline(
    rng: np.random.Generator, name: str, img_size: int, min_size: int
) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
    """Scale, rotate and position a shape; rasterise it into a patch.

    Returns:
        tuple: ``(mask, (x0, y0))``: the bool mask of the shape in a patch
        of shape (h, w) and the patch's top-left corner in the image.
    """
    outer, hole = shape_outline(name)
    long_side = np.exp(rng.uniform(np.log(min_size), np.log(img_size / 2)))
    aspect = rng.uniform(max(0.5, MIN_SHORT_SIDE / long_side), 1.0)
    angle = rng.uniform(0, 2 * np.pi)
    scale = np.array([1.0, aspect])
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    outer = (outer * scale) @ rotation.T
    hole = None if hole is None else (hole * scale) @ rotation.T
    extent = outer.max(0) - outer.min(0)
    factor = (long_side - 1) / extent.max()
    outer = outer * factor
    hole = None if hole is None else hole * factor
    lo = outer.min(0)
    size = np.ceil(outer.max(0) - lo).astype(int) + 1  # patch (w, h)
    x0 = int(rng.integers(0, img_size - size[0] + 1))
    y0 = int(rng.integers(0, img_size - size[1] + 1))
    mask = np.zeros((size[1], size[0]), np.uint8)
    one = 1 << _SUBPIXEL_BITS
    cv2.fillPoly(
        mask, [np.round((outer - lo) * one).astype(np.int32)], 1,
        lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS,
    )  # fmt: skip
    if hole is not None:
        cv2.fillPoly(
            mask, [np.round((hole - lo) * one).astype(np.int32)], 0,
            lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS,
        )  # fmt: skip
    return mask.astype(bool), (x0, y0)


def _contrasting_colour(
    rng: np.random.Generator, background: np.ndarray
) -> np.ndarray:
    """A BGR colour at least 100 (L2) away from the background mean."""
    mean = background.reshape(-1, 3).mean(0)
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - mean) >= 100:
            return colour
    return np.where(mean > 127, 20.0, 235.0)


def render_image(
    rng: np.random.Generator,
    img_size: int,
    num_objects: int,
    classes: Sequence[int],
    min_size: int = MIN_SIZE,
) -> Tuple[np.ndarray, List[SyntheticObject]]:
    """Draw shapes on a textured background.

    Args:
        rng (numpy.random.Generator): Source of randomness.
        img_size (int): Height and width of the image in pixels.
        num_objects (int): Number of shapes to try to place (0 to 15). A
            shape that cannot be placed without hiding too much of the
            others is left out, so fewer may be drawn.
        classes (Sequence[int]): Class indices into ``SHAPE_CLASSES`` to
            draw from.
        min_size (int): Smallest longer side of a shape in pixels (sizes
            are log-uniform up to half the image). Defaults to 8.

    Returns:
        tuple: ``(image, objects)``: a uint8 BGR image of shape
        (img_size, img_size, 3) and the drawn objects, in drawing order.
    """
    if not 0 <= num_objects <= MAX_OBJECTS:
        raise ValueError(f'num_objects must be in [0, {MAX_OBJECTS}]')
    if not MIN_SIZE <= min_size <= img_size / 2:
        raise ValueError(
            f'min_size must be in [{MIN_SIZE}, img_size / 2 = '
            f'{img_size / 2:g}], got {min_size}'
        )
    image = make_background(rng, img_size)
    owner = np.full((img_size, img_size), -1, np.int32)  # object index map
    drawn_area: List[int] = []
    labels: List[int] = []
    for _ in range(num_objects):
        label = int(classes[int(rng.integers(len(classes)))])
        # pixels each drawn object still shows, before this placement
        visible = np.bincount(owner.ravel() + 1, minlength=len(labels) + 1)
        min_visible = MIN_VISIBLE_FRACTION * np.array(drawn_area)
        for _ in range(_PLACEMENT_TRIES):
            mask, (x0, y0) = _place_outline(
                rng, SHAPE_CLASSES[label], img_size, min_size
            )
            h, w = mask.shape
            region = owner[y0 : y0 + h, x0 : x0 + w]
            covered = np.bincount(region[mask] + 1, minlength=len(labels) + 1)
            if np.all(visible[1:] - covered[1:] >= min_visible):
                break
        else:
            continue  # no acceptable placement: leave this object out
        patch = image[y0 : y0 + h, x0 : x0 + w]
        colour = _contrasting_colour(rng, patch)
        shade = colour + rng.normal(0, 5, size=(h, w, 3))
        patch[mask] = np.clip(shade[mask], 0, 255)
        region[mask] = len(labels)
        drawn_area.append(int(mask.sum()))
        labels.append(label)
    objects = []
    for index, label in enumerate(labels):
        visible_mask = owner == index
        ys = np.flatnonzero(visible_mask.any(1))
        xs = np.flatnonzero(visible_mask.any(0))
        bbox = (
            int(xs[0]),
            int(ys[0]),
            int(xs[-1] - xs[0] + 1),
            int(ys[-1] - ys[0] + 1),
        )
        objects.append(SyntheticObject(label, bbox, visible_mask))
    return np.round(image).astype(np.uint8), objects
