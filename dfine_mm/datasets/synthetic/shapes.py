"""Shape outlines for the synthetic detection data set.

Every shape is a filled outer polygon, optionally minus a hole polygon, in
unit coordinates centred on the origin with extent about [-1, 1]. Placement
(scale, aspect ratio, rotation, position) and rasterisation happen in
:mod:`.render`.
"""

from typing import Callable, Dict, Optional, Tuple

import numpy as np

Outline = Tuple[np.ndarray, Optional[np.ndarray]]  # (outer (N, 2), hole)


def _regular_polygon(
    num_vertices: int, radius: float = 1.0, phase: float = 0.0
) -> np.ndarray:
    """Vertices of a regular polygon, shape (num_vertices, 2), xy."""
    angles = phase + 2 * np.pi * np.arange(num_vertices) / num_vertices
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _circle() -> Outline:
    return _regular_polygon(96), None


def _square() -> Outline:
    return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float), None


def _triangle() -> Outline:
    return _regular_polygon(3, phase=-np.pi / 2), None


def _star() -> Outline:
    points = _regular_polygon(10, phase=-np.pi / 2)
    points[1::2] *= 0.42  # inner vertices
    return points, None


def _ring() -> Outline:
    return _regular_polygon(96), _regular_polygon(96, radius=0.55)


def _hexagon() -> Outline:
    return _regular_polygon(6), None


def _cross() -> Outline:
    a = 0.34  # half width of each arm
    outline = [
        [-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a],
        [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a],
    ]  # fmt: skip
    return np.array(outline, float), None


def _crescent() -> Outline:
    hole = _regular_polygon(96, radius=0.82) + np.array([0.45, 0.0])
    return _regular_polygon(96), hole


# The class order of the data set: class i is SHAPE_CLASSES[i].
SHAPE_BUILDERS: Dict[str, Callable[[], Outline]] = {
    'circle': _circle,
    'square': _square,
    'triangle': _triangle,
    'star': _star,
    'ring': _ring,
    'hexagon': _hexagon,
    'cross': _cross,
    'crescent': _crescent,
}
SHAPE_CLASSES: Tuple[str, ...] = tuple(SHAPE_BUILDERS)


def shape_outline(name: str) -> Outline:
    """Return the unit outline of a shape class.

    Args:
        name (str): One of :data:`SHAPE_CLASSES`.

    Returns:
        tuple: ``(outer, hole)``: the outer polygon, shape (N, 2) in xy
        order, and the polygon cut out of it (shape (M, 2)) or None.
    """
    if name not in SHAPE_BUILDERS:
        raise KeyError(
            f'unknown shape {name!r}; available: {", ".join(SHAPE_CLASSES)}'
        )
    return SHAPE_BUILDERS[name]()
