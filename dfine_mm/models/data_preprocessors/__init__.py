from .batch_multi_scale_resize import DFineBatchMultiScaleResize

__all__ = ['DFineBatchMultiScaleResize']
