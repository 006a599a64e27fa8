from .dfine import DFINE
from .fdr_deformable_detr import FDRDeformableDETR
from .fdr_dino import FDRDINO

__all__ = ['DFINE', 'FDRDINO', 'FDRDeformableDETR']
