from .dfine import DFINE

__all__ = ['DFINE']
