from .deformable_detr_fdr_head import DeformableDETRFDRHead
from .dfine_head import DFineHead
from .dino_fdr_head import DINOFDRHead

__all__ = ['DeformableDETRFDRHead', 'DINOFDRHead', 'DFineHead']
