from .channels_last_hook import DFineChannelsLastHook
from .class_remap_hook import DFineClassRemapHook
from .compile_hook import DFineCompileHook, compile_parts
from .invalid_loss_hook import DFineInvalidLossHook
from .malloc_hook import DFineMallocHook
from .mode_switch_hook import DFineModeSwitchHook

__all__ = [
    'DFineChannelsLastHook',
    'DFineClassRemapHook',
    'DFineCompileHook',
    'DFineInvalidLossHook',
    'DFineMallocHook',
    'DFineModeSwitchHook',
    'compile_parts',
]
