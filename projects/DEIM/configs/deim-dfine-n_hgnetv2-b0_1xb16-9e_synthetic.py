# DEIM-D-FINE-N on the synthetic shapes data set at the `make demo` budget
# (configs/dfine/dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py, 9 epochs on the
# CPU), for the comparison in projects/DEIM/README.md. DEIM's changes to
# the demo: SiLU in the decoder, the matchability-aware loss (the demo's 4x
# classification weight kept), and Dense O2O scaled from DEIM-N's policy
# (4 / 78 / 148 of 160 epochs): the mosaic (cells of 128 px for 256 px
# inputs) on half the images and batch MixUp in epochs 1-4, the last epoch
# clean. The demo's LR (DEIM-N's is flat after warm-up too) and data
# (flip only, no other augmentation).
_base_ = '../../../configs/dfine/dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py'
custom_imports = dict(
    imports=['dfine_mm', 'projects.DEIM.deim'], allow_failed_imports=False
)

model = dict(
    decoder=dict(act_cfg=dict(type='SiLU'), mlp_act_cfg=dict(type='SiLU')),
    bbox_head=dict(loss_cls=dict(_delete_=True, type='DEIMMALLoss',
                                 gamma=1.5, loss_weight=4.0)),
)  # fmt: skip

mosaic_epochs = mixup_epochs = (1, 5)
stop_epoch = 8
# the demo's steps after loading: resize, flip, pack
train_pipeline = train_pipeline_augment = train_pipeline_stage2 = (
    _base_.train_pipeline[2:]
)
train_pipeline_mosaic = [
    dict(type='DEIMMosaic', output_size=128, rotation_range=10,
         translation_range=(0.1, 0.1), scaling_range=(0.5, 1.5), fill=0,
         prob=0.5),
    dict(type='DFineSanitizeBoxes', min_size=1),
] + train_pipeline  # fmt: skip
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(
            type='DFineCocoDataset',
            data_root=_base_.data_root,
            metainfo=_base_.metainfo,
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='train/'),
            filter_cfg=dict(filter_empty_gt=False, min_size=1),
            pipeline=_base_.train_pipeline[:2],
        ),
        pipeline=train_pipeline,
    ),
)
custom_hooks = [
    dict(type='DFineChannelsLastHook'),  # backbone and neck
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-3,
         gamma=100, update_buffers=True, priority=49),
    dict(type='DEIMDenseO2OHook'),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
