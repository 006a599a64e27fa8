# D-FINE-N fine-tuned on COCO from an Objects365 checkpoint
# (dfine_spec.md §g.7): 64 epochs, augmentation stops at 56, constant
# EMA momentum and no LR warm-up. The class heads of the Objects365
# checkpoint (366 rows for the original's, 365 for
# dfine-n_hgnetv2-b0_4xb32-48e_objects365.py)
# are remapped to the 80 COCO classes when it is loaded:
#   python tools/train.py THIS_CONFIG --cfg-options load_from=obj365.pth
_base_ = '../dfine-n_hgnetv2-b0_4xb32-160e_coco.py'

load_from = None  # set to the (converted) Objects365 checkpoint
model = dict(data_preprocessor=dict(batch_augments=None))
optim_wrapper = dict(
    optimizer=dict(lr=0.0008, weight_decay=0.0001),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(lr=0.0004),
        backbone_norm=dict(pattern=r'^(?=.*backbone)(?=.*norm|bn).*$',
                           lr=0.0004, weight_decay=0.0),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$'),
    )),
)  # fmt: skip
param_scheduler = []  # constant LR, no warm-up
train_cfg = dict(max_epochs=64)
custom_hooks = [
    dict(type='DFineClassRemapHook'),
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=1e-4,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=56,
         switch_pipeline={{_base_.train_pipeline_stage2}}),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
