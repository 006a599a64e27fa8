# DEIM's training on DINO + FDR + GO-LSD: mmdet's DINO-4scale R-50 12e with
# FDR (configs/dino_fdr/), the matchability-aware loss instead of the focal
# loss, and Dense O2O: the mosaic on half the images and batch MixUp in
# epochs 1-5, DINO's own pipeline otherwise. DEIM did not train DINO: the
# epochs scale DEIM-D-FINE-S's policy (4 / 64 / 120 of 132) to 12 epochs,
# clean from the LR drop at epoch 11 on. DINO's optimizer and schedule.
_base_ = '../../../configs/dino_fdr/dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['dfine_mm', 'projects.DEIM.deim'],
                      allow_failed_imports=False)  # fmt: skip

model = dict(
    bbox_head=dict(loss_cls=dict(_delete_=True, type='DEIMMALLoss',
                                 gamma=1.5, loss_weight=1.0)))  # fmt: skip

mosaic_epochs = mixup_epochs = (1, 6)
stop_epoch = 11
# DINO's pipeline after loading: flip, multi-scale resize / crop, pack
train_pipeline = train_pipeline_augment = train_pipeline_stage2 = (
    _base_.train_pipeline[2:]
)
train_pipeline_mosaic = [
    dict(type='DEIMMosaic', output_size=320, rotation_range=10,
         translation_range=(0.1, 0.1), scaling_range=(0.5, 1.5), fill=0,
         prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=True),
] + train_pipeline  # fmt: skip
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(
            type=_base_.dataset_type,
            data_root=_base_.data_root,
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=False, min_size=32),
            pipeline=_base_.train_pipeline[:2],
            backend_args=_base_.backend_args,
        ),
        pipeline=train_pipeline,
    ),
)
custom_hooks = [dict(type='DEIMDenseO2OHook')]
