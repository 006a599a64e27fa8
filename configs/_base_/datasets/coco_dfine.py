# COCO for D-FINE: the original's training pipelines (strong augmentation
# until stop_epoch, then train_pipeline_stage2, which DFineModeSwitchHook
# switches to) and evaluation at 640x640.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

img_scale = (640, 640)

# ops 1-3 (photometric, zoom-out, IoU crop) stop at stop_epoch; after them
# both pipelines run the same steps
__load = [
    dict(type='DFineLoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
]
__finish = [
    dict(type='DFineSanitizeBoxes', min_size=1),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='DFineSanitizeBoxes', min_size=1),
    dict(type='PackDetInputs'),
]
train_pipeline = __load + [
    dict(type='DFinePhotometricDistort', prob=0.5),
    dict(type='Expand', mean=(0, 0, 0), to_rgb=False, ratio_range=(1, 4),
         prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
             min_crop_size=0.3)]),
] + __finish  # fmt: skip
train_pipeline_stage2 = __load + __finish
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    batch_sampler=None,  # every image is resized to 640x640 anyway
    dataset=dict(
        type='DFineCocoDataset',
        filter_cfg=dict(filter_empty_gt=False, min_size=1),
        pipeline=train_pipeline,
    ),
)

# Evaluation resizes to 640x640 without keeping the aspect ratio, as the
# original does.
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'),
    ),
]  # fmt: skip
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    dataset=dict(type='DFineCocoDataset', pipeline=test_pipeline),
)
test_dataloader = val_dataloader
