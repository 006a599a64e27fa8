# DEIM's training recipe on D-FINE's (configs/_base_/schedules/
# dfine_recipe.py), DEIM-D-FINE-S's values: the flat-cosine LR, the Dense
# O2O phases (mosaic_epochs, mixup_epochs, stop_epoch: top-level, read by
# DEIMDenseO2OHook when training starts) and `deim_model`, DEIM's changes to
# a D-FINE model, which each config merges (`model = _base_.deim_model`).
_base_ = '../../../../configs/_base_/schedules/dfine_recipe.py'

# the original's policy.epoch = [*mosaic_epochs, stop_epoch]
max_epochs = 132
mosaic_epochs = (4, 64)
mixup_epochs = (4, 64)
stop_epoch = 120
train_cfg = dict(max_epochs=max_epochs)
# quadratic warm-up over 2000 iterations, flat until flat_epoch, cosine down
# to lr_gamma x the LR, constant for the last no_aug_epoch epochs of the
# run (train_cfg.max_epochs)
param_scheduler = [
    dict(type='DEIMFlatCosineLR', warmup_iters=2000, flat_epoch=64,
         no_aug_epoch=12, lr_gamma=0.5, convert_to_iter_based=True),
]  # fmt: skip
custom_hooks = [
    # backbone and neck convolutions in channels-last format: 0.84x of
    # the S step on a GPU (docs/benchmarks.md)
    dict(type='DFineChannelsLastHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    # the mosaic, MixUp and D-FINE's stop_epoch switch
    dict(type='DEIMDenseO2OHook'),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip

deim_model = dict(
    # the whole backbone trains, norms included (D-FINE-L / X freeze them)
    backbone=dict(frozen_stages=-1, freeze_norm=False),
    # SiLU in the decoder's FFNs and quality heads, and in its MLPs
    decoder=dict(act_cfg=dict(type='SiLU'), mlp_act_cfg=dict(type='SiLU')),
    # the matchability-aware loss instead of VFL
    bbox_head=dict(loss_cls=dict(
        _delete_=True, type='DEIMMALLoss', gamma=1.5, loss_weight=1.0)),
)  # fmt: skip
