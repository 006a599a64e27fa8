from .dfine_head import DFineHead
from .fdr_deformable_detr_head import FDRDeformableDETRHead
from .fdr_dino_head import FDRDINOHead

__all__ = ['DFineHead', 'FDRDINOHead', 'FDRDeformableDETRHead']
