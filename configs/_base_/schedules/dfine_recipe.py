# The original D-FINE training recipe (dfine_spec.md §g), D-FINE-L's
# values: 4 GPUs x 8 images, AdamW with parameter groups, 500-iteration
# warm-up, EMA, AMP with clipping, strong augmentation and multi-scale until
# stop_epoch. Variants override max_epochs / stop_epoch (top-level: the
# mode-switch hook reads stop_epoch when training starts), the LRs, the
# batch size and auto_scale_lr.
_base_ = 'mmdet::_base_/default_runtime.py'

max_epochs = 80
stop_epoch = 72  # strong augmentation and multi-scale off from this epoch
base_lr = 2.5e-4
backbone_lr = 1.25e-5
weight_decay = 1.25e-4

# AdamW; the backbone at its own LR; no weight decay on the norms of the
# encoder and decoder (L and X; N, S and M also spare their biases).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999),
                   weight_decay=weight_decay),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='DFineOptimWrapperConstructor',
    # groups keyed by name: a child changes one, e.g.
    # paramwise_cfg=dict(groups=dict(backbone=dict(lr=1e-5))). (The
    # original's N / S / M configs also list a backbone-norm group whose
    # regex matches no parameter; it is left out.)
    paramwise_cfg=dict(groups=dict(
        backbone=dict(pattern=r'^(?=.*backbone)(?!.*norm|bn).*$',
                      lr=backbone_lr),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn)).*$',
                  weight_decay=0.0),
    )),
)  # fmt: skip
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
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    # switches to the config's train_pipeline_stage2 at its stop_epoch
    dict(type='DFineModeSwitchHook'),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=12, max_keep_ckpts=3,
                    save_best='auto'),
)  # fmt: skip
# 4 GPUs x 8 images; `--auto-scale-lr` rescales the LR for other totals
auto_scale_lr = dict(enable=False, base_batch_size=32)
