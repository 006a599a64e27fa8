from .dfine import DFINE
from .dino_fdr import DINOFDR

__all__ = ['DINOFDR', 'DFINE']
