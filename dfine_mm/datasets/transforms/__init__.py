from .photometric_distort import DFinePhotometricDistort
from .sanitize_boxes import DFineSanitizeBoxes

__all__ = ['DFinePhotometricDistort', 'DFineSanitizeBoxes']
