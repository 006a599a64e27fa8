from .fdr import (
    bbox2distance,
    distance2bbox,
    distribution_integral,
    fdr_initial_boxes,
    fdr_refine,
    weighting_function,
)

__all__ = [
    'bbox2distance',
    'distance2bbox',
    'distribution_integral',
    'fdr_initial_boxes',
    'fdr_refine',
    'weighting_function',
]
