"""Helpers shared by the tests and the benchmark tools."""

from .transformers_dfine import (
    TRANSFORMERS_VARIANTS,
    build_transformers_dfine,
    perturb_,
)

__all__ = ['TRANSFORMERS_VARIANTS', 'build_transformers_dfine', 'perturb_']
