# Objects365 -> COCO fine-tuning (dfine_spec.md §g.7): constant EMA
# momentum and no LR warm-up. The class heads of the Objects365 checkpoint
# (366 rows for the original's, 365 for configs/dfine/objects365/*_objects365)
# are remapped to the 80 COCO classes when it is loaded (any format):
#   python tools/train.py CONFIG --cfg-options load_from=obj365.pth
_base_ = './dfine_recipe.py'

load_from = None  # set to the Objects365 checkpoint
param_scheduler = []  # constant LR, no warm-up
custom_hooks = [
    dict(type='DFineClassRemapHook'),
    # backbone and neck convolutions in channels-last format: 0.84x of
    # the S step on a GPU (docs/benchmarks.md)
    dict(type='DFineChannelsLastHook'),
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=1e-4,
         update_buffers=True, priority=49),
    dict(type='DFineModeSwitchHook'),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
