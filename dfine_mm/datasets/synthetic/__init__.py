"""The synthetic shapes data set that the demo and the tests train on."""

from .coco import (
    SPLITS,
    check_synthetic_args,
    generate_synthetic_coco,
    synthetic_classes,
    synthetic_metainfo,
)
from .render import SyntheticObject, render_image
from .shapes import SHAPE_CLASSES, shape_outline

__all__ = [
    'SHAPE_CLASSES',
    'SPLITS',
    'SyntheticObject',
    'check_synthetic_args',
    'generate_synthetic_coco',
    'render_image',
    'shape_outline',
    'synthetic_classes',
    'synthetic_metainfo',
]
