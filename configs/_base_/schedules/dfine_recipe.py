# The original D-FINE training recipe (dfine_spec.md §g), D-FINE-L's
# values: 4 GPUs x 8 images, 500-iteration warm-up, EMA, strong
# augmentation and multi-scale until stop_epoch. The optimizer (AdamW, its
# LRs and parameter groups, AMP with clipping) differs per variant and is
# set with the variant, in configs/_base_/models/. Configs override
# max_epochs / stop_epoch (top-level: the mode-switch hook reads stop_epoch
# when training starts), the batch size and auto_scale_lr.
_base_ = 'mmdet::_base_/default_runtime.py'

max_epochs = 80
stop_epoch = 72  # strong augmentation and multi-scale off from this epoch
# linear warm-up over 500 iterations, then constant
param_scheduler = [
    dict(type='LinearLR', start_factor=1 / 500, by_epoch=False, begin=0,
         end=500),
]  # fmt: skip
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    # backbone and neck convolutions in channels-last format: 0.84x of
    # the S step on a GPU (docs/benchmarks.md)
    dict(type='DFineChannelsLastHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    # switches to the config's train_pipeline_stage2 at its stop_epoch
    dict(type='DFineModeSwitchHook'),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=12, max_keep_ckpts=3,
                    save_best='auto'),
    # on the CPU only: freed host memory kept for the next step (no page
    # faults per step, docs/training.md); a default hook, so configs that
    # list their own custom_hooks keep it
    malloc=dict(type='DFineMallocHook'),
)  # fmt: skip
# 4 GPUs x 8 images; `--auto-scale-lr` rescales the LR for other totals
auto_scale_lr = dict(enable=False, base_batch_size=32)
