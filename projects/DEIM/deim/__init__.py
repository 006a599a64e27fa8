"""DEIM (CVPR 2025) on dfine_mm: registered when a config lists
``projects.DEIM.deim`` in ``custom_imports``."""

from .flat_cosine_lr import DEIMFlatCosineLR
from .mal_loss import DEIMMALLoss

__all__ = ['DEIMFlatCosineLR', 'DEIMMALLoss']
