from .loading import DFineLoadImageFromFile
from .photometric_distort import DFinePhotometricDistort
from .sanitize_boxes import DFineSanitizeBoxes

__all__ = [
    'DFineLoadImageFromFile',
    'DFinePhotometricDistort',
    'DFineSanitizeBoxes',
]
