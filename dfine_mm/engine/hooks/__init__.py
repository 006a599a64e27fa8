from .class_remap_hook import DFineClassRemapHook
from .invalid_loss_hook import DFineInvalidLossHook

__all__ = ['DFineClassRemapHook', 'DFineInvalidLossHook']
