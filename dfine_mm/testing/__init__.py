"""Helpers shared by the tests and the benchmark tools."""

from .conditioned_weights import (
    calibrate_norms_,
    conditioned_reference,
    conditioned_state_dict,
    synthetic_images,
)
from .memory import PeakMemoryGrowth
from .timing import alternating_medians
from .transformers_dfine import (
    TRANSFORMERS_VARIANTS,
    build_transformers_dfine,
    perturb_,
)

__all__ = [
    'PeakMemoryGrowth',
    'TRANSFORMERS_VARIANTS',
    'alternating_medians',
    'build_transformers_dfine',
    'calibrate_norms_',
    'conditioned_reference',
    'conditioned_state_dict',
    'perturb_',
    'synthetic_images',
]
