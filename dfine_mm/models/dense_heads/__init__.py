from .dfine_head import DFineHead
from .dino_fdr_head import DINOFDRHead

__all__ = ['DINOFDRHead', 'DFineHead']
