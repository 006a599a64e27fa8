"""Helpers shared by the tests and the benchmark tools."""

from ..utils.glibc_malloc import keep_freed_memory
from .conditioned_weights import (
    calibrate_norms_,
    conditioned_reference,
    conditioned_state_dict,
    synthetic_images,
)
from .cuda_memory import CudaPeakMemoryGrowth
from .memory import PeakMemoryGrowth
from .section_timer import SectionTimer
from .timing import (
    alternating_medians,
    alternating_times,
    medians,
    paired_ratios,
    synced,
)
from .transformers_dfine import (
    TRANSFORMERS_VARIANTS,
    build_transformers_dfine,
    perturb_,
)

__all__ = [
    'CudaPeakMemoryGrowth',
    'PeakMemoryGrowth',
    'SectionTimer',
    'TRANSFORMERS_VARIANTS',
    'alternating_medians',
    'alternating_times',
    'build_transformers_dfine',
    'calibrate_norms_',
    'conditioned_reference',
    'conditioned_state_dict',
    'keep_freed_memory',
    'medians',
    'paired_ratios',
    'perturb_',
    'synced',
    'synthetic_images',
]
