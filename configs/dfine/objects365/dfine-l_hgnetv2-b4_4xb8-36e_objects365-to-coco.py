# D-FINE-L fine-tuned on COCO from an Objects365 checkpoint
# (dfine_spec.md §g.7): 36 epochs, augmentation stops at 30, constant
# EMA momentum and no LR warm-up. The class heads of the Objects365
# checkpoint (366 rows for the original's, 365 for
# dfine-l_hgnetv2-b4_4xb8-24e_objects365.py)
# are remapped to the 80 COCO classes when it is loaded:
#   python tools/train.py THIS_CONFIG --cfg-options load_from=obj365.pth
_base_ = '../dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

load_from = None  # set to the (converted) Objects365 checkpoint
model = dict(
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                scales=[480, 512, 544, 576, 608]
                + [640] * 4
                + [800, 768, 736, 704, 672],
                stop_epoch=30,
            )
        ]
    )
)
optim_wrapper = dict(
    optimizer=dict(lr=0.00025, weight_decay=0.000125),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=1.25e-05))),
)  # fmt: skip
param_scheduler = []  # constant LR, no warm-up
train_cfg = dict(max_epochs=36)
custom_hooks = [
    dict(type='DFineClassRemapHook'),
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=1e-4,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=30,
         switch_pipeline={{_base_.train_pipeline_stage2}}),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
