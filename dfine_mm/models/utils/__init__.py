from .fdr import (
    FDRParams,
    bbox2distance,
    distance2bbox,
    distribution_integral,
    edge_std,
    fdr_initial_boxes,
    fdr_refine,
    weighting_function,
)
from .matched_pairs import go_lsd_union

__all__ = [
    'FDRParams',
    'bbox2distance',
    'distance2bbox',
    'distribution_integral',
    'edge_std',
    'fdr_initial_boxes',
    'fdr_refine',
    'go_lsd_union',
    'weighting_function',
]
