"""DEIM (CVPR 2025) on dfine_mm: registered when a config lists
``projects.DEIM.deim`` in ``custom_imports``."""

from .batch_mixup import DEIMBatchMixUp
from .dense_o2o_hook import DEIMDenseO2OHook
from .flat_cosine_lr import DEIMFlatCosineLR
from .mal_loss import DEIMMALLoss
from .mosaic import DEIMMosaic
from .skip_after_mosaic import DEIMSkipAfterMosaic

__all__ = [
    'DEIMBatchMixUp',
    'DEIMDenseO2OHook',
    'DEIMFlatCosineLR',
    'DEIMMALLoss',
    'DEIMMosaic',
    'DEIMSkipAfterMosaic',
]
