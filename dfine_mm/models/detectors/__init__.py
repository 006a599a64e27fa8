from .deformable_detr_fdr import DeformableDETRFDR
from .dfine import DFINE
from .dino_fdr import DINOFDR

__all__ = ['DeformableDETRFDR', 'DINOFDR', 'DFINE']
