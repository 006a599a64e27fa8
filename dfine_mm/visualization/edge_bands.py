"""Bands of +- one standard deviation around each box edge."""

from typing import Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

Colour = Union[str, Tuple[int, int, int]]


def edge_bands(bboxes: Tensor, edge_std: Tensor) -> Tensor:
    """The band of +- one standard deviation around each edge.

    Args:
        bboxes (Tensor): (n, 4) boxes, xyxy.
        edge_std (Tensor): (n, 4) standard deviation of the left, top,
            right and bottom edge, in the boxes' units.

    Returns:
        Tensor: (n, 4, 4) one xyxy rectangle per edge (left, top, right,
        bottom), spanning the box along the edge.
    """
    x1, y1, x2, y2 = bboxes.unbind(-1)
    left, top, right, bottom = edge_std.unbind(-1)
    return torch.stack(
        [
            torch.stack([x1 - left, y1, x1 + left, y2], -1),
            torch.stack([x1, y1 - top, x2, y1 + top], -1),
            torch.stack([x2 - right, y1, x2 + right, y2], -1),
            torch.stack([x1, y2 - bottom, x2, y2 + bottom], -1),
        ],
        1,
    )


def draw_edge_bands(
    visualizer,
    image: np.ndarray,
    bboxes: Tensor,
    edge_std: Tensor,
    colours: Sequence[Colour],
    alpha: float = 0.35,
) -> np.ndarray:
    """Draw :func:`edge_bands` as filled rectangles on ``image``.

    Args:
        visualizer: An mmengine ``Visualizer`` (e.g. mmdet's
            ``DetLocalVisualizer``).
        image (np.ndarray): (H, W, 3) RGB image.
        bboxes (Tensor): (n, 4) xyxy pixels of ``image``.
        edge_std (Tensor): (n, 4) pixels.
        colours: One colour per box.
        alpha (float): Fill opacity.

    Returns:
        np.ndarray: The image with the bands, RGB.
    """
    visualizer.set_image(image)
    if len(bboxes):
        bands = edge_bands(bboxes.float(), edge_std.float()).reshape(-1, 4)
        fill = [c for c in colours for _ in range(4)]
        visualizer.draw_bboxes(
            bands, edge_colors=fill, face_colors=fill, alpha=alpha,
            line_widths=0,
        )  # fmt: skip
    return visualizer.get_image()


__all__ = ['draw_edge_bands', 'edge_bands']
