from .ddf_loss import DFineDDFLoss
from .fgl_loss import DFineFGLLoss
from .varifocal_loss import DFineVarifocalLoss

__all__ = ['DFineDDFLoss', 'DFineFGLLoss', 'DFineVarifocalLoss']
