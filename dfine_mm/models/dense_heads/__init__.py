from .dfine_head import DFineHead

__all__ = ['DFineHead']
