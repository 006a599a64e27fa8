"""Fixtures shared by the whole suite (helpers live in helpers.py)."""

import pytest

from dfine_mm.datasets.synthetic import generate_synthetic_coco


@pytest.fixture(scope='session')
def synthetic_coco(tmp_path_factory):
    """A small synthetic data set: 24 train and 8 val images, 64 px, 5
    classes, seed 0. Returns its root directory."""
    root = tmp_path_factory.mktemp('synthetic_coco')
    generate_synthetic_coco(
        str(root), num_train=24, num_val=8, img_size=64, num_classes=5
    )
    return str(root)
