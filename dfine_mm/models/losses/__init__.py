from .ddf_loss import DFineDDFLoss
from .fgl_loss import DFineFGLLoss
from .go_lsd_loss import DFineGOLSDLoss
from .varifocal_loss import DFineVarifocalLoss

__all__ = [
    'DFineDDFLoss',
    'DFineFGLLoss',
    'DFineGOLSDLoss',
    'DFineVarifocalLoss',
]
