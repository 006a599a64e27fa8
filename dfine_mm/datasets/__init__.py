from . import synthetic
from .synthetic import generate_synthetic_coco, synthetic_metainfo

__all__ = ['generate_synthetic_coco', 'synthetic', 'synthetic_metainfo']
