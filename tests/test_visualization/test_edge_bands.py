"""Edge bands: +- one standard deviation around each box edge."""

import numpy as np
import torch
from mmengine.visualization import Visualizer

from dfine_mm.visualization import draw_edge_bands, edge_bands


def test_band_geometry():
    box = torch.tensor([[10.0, 20.0, 50.0, 80.0]])
    std = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    left, top, right, bottom = edge_bands(box, std)[0].tolist()
    assert left == [9.0, 20.0, 11.0, 80.0]
    assert top == [10.0, 18.0, 50.0, 22.0]
    assert right == [47.0, 20.0, 53.0, 80.0]
    assert bottom == [10.0, 76.0, 50.0, 84.0]


def test_bands_are_drawn_only_around_the_edges():
    image = np.zeros((100, 100, 3), np.uint8)
    box = torch.tensor([[20.0, 20.0, 80.0, 80.0]])
    std = torch.tensor([[3.0, 3.0, 3.0, 3.0]])
    drawn = draw_edge_bands(
        Visualizer(), image, box, std, [(255, 0, 0)], alpha=1.0
    )
    assert drawn[50, 20].sum() > 0  # on the left edge
    assert drawn[50, 50].sum() == 0  # the box's inside stays clear
    assert drawn[5, 5].sum() == 0
