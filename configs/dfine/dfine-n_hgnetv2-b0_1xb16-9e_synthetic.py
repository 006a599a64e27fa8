# D-FINE-N trained from scratch on the synthetic shapes data set on the CPU:
# the `make demo` config (tools/run_demo.py; about 9 minutes on 2 cores).
# The demo data set (made by tools/run_demo.py, or by hand):
#   python tools/misc/make_synthetic_coco.py --out data/demo --num-train 600 \
#       --num-val 100 --img-size 256 --max-objects 6 --min-object-size 24
# 256x256 inputs, 60 queries (at most 6 objects per image), 30 denoising
# queries, no ImageNet backbone, fp32 in channels-last memory format (13%
# faster steps on the CPU, which buys the 9th epoch), one LR, short warm-up,
# a fast EMA, a heavier classification loss and a fixed seed.
_base_ = './dfine-n_hgnetv2-b0_4xb32-160e_coco.py'

data_root = 'data/demo/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star', 'ring'),
    palette=[(220, 20, 60), (0, 130, 200), (60, 180, 75), (245, 130, 48),
             (145, 30, 180)],
)  # fmt: skip
num_classes = 5
img_scale = (256, 256)
max_epochs = 9
randomness = dict(seed=0)

model = dict(
    backbone=dict(init_cfg=None),  # from scratch: no ImageNet weights here
    num_queries=60,
    dn_cfg=dict(num_denoising=30),
    # From scratch in 340 steps, telling the shapes apart is what lags
    # (boxes are learnt first): the classification loss weighs 4x here
    # (8 epochs, mAP with weight 1 / 2 / 3 / 4 / 5 / 6: 0.23 / 0.33 / 0.27 /
    # 0.32-0.43 over 4 seeds / 0.30 / 0.28; see configs/dfine/README.md).
    bbox_head=dict(num_classes=num_classes, loss_cls=dict(loss_weight=4.0)),
    test_cfg=dict(max_per_img=60),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'),
    ),
]  # fmt: skip
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    batch_sampler=None,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=1),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# fp32 on CPU; one LR for all (the backbone starts from scratch too); no
# weight decay on norms and biases
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='DFineOptimWrapperConstructor',
    # one LR; no weight decay on norms and biases
    paramwise_cfg=dict(groups=dict(
        norm=dict(pattern=r'(?:norm|bn|bias)', weight_decay=0.0),
    )),
)  # fmt: skip
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
]  # fmt: skip
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='DFineChannelsLastHook'),  # backbone and neck
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-3,
         gamma=100, update_buffers=True, priority=49),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1),
)  # fmt: skip
auto_scale_lr = dict(enable=False, base_batch_size=16)
