from .channels_last_hook import DFineChannelsLastHook
from .class_remap_hook import DFineClassRemapHook
from .invalid_loss_hook import DFineInvalidLossHook
from .mode_switch_hook import DFineModeSwitchHook

__all__ = [
    'DFineChannelsLastHook',
    'DFineClassRemapHook',
    'DFineInvalidLossHook',
    'DFineModeSwitchHook',
]
