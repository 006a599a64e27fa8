from .class_remap_hook import DFineClassRemapHook
from .invalid_loss_hook import DFineInvalidLossHook
from .mode_switch_hook import DFineModeSwitchHook

__all__ = [
    'DFineClassRemapHook',
    'DFineInvalidLossHook',
    'DFineModeSwitchHook',
]
