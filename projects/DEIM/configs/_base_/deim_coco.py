# COCO with DEIM's Dense O2O data policy (projects/DEIM/README.md): D-FINE's
# steps (configs/_base_/datasets/coco_dfine.py) in phases switched by
# DEIMDenseO2OHook at the recipe's mosaic_epochs and stop_epoch. mmdet's
# MultiImageMixDataset loads the images (and the mosaic's three others)
# and runs the phase's pipeline.
_base_ = '../../../../configs/_base_/datasets/coco_dfine.py'

# D-FINE's pipeline: 2 loading steps, 3 augmentation steps (photometric,
# zoom-out, IoU crop), then the finishing steps (sanitise, flip, resize,
# sanitise, pack)
__load = _base_.train_pipeline[:2]
# from stop_epoch, and before mosaic_epochs[0]: no augmentation
train_pipeline_stage2 = _base_.train_pipeline_stage2[2:]
# mosaic_epochs: the mosaic on half the images (it replaces zoom-out and IoU
# crop there); D-FINE's augmentation on the others
train_pipeline_mosaic = [
    dict(type='DEIMMosaic', output_size=320, rotation_range=10,
         translation_range=(0.1, 0.1), scaling_range=(0.5, 1.5), fill=0,
         prob=0.5),
    _base_.train_pipeline[2],
    dict(type='DEIMSkipAfterMosaic', transforms=_base_.train_pipeline[3:5]),
] + train_pipeline_stage2  # fmt: skip
# from mosaic_epochs[1] to stop_epoch: D-FINE's augmentation
train_pipeline_augment = _base_.train_pipeline[2:]
train_pipeline = train_pipeline_stage2
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(
            type='DFineCocoDataset',
            data_root=_base_.data_root,
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=False, min_size=1),
            pipeline=__load,
            backend_args=_base_.backend_args,
        ),
        pipeline=train_pipeline,
    ),
)
