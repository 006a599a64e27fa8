from .hgnetv2 import HGNetV2

__all__ = ['HGNetV2']
