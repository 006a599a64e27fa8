# D-FINE-X pre-training on Objects365 (365 classes), as the original
# (dfine_spec.md §g.6): 24 epochs, augmentation and multi-scale never stop.
# Data: mmdet's Objects365V2Dataset layout under data/objects365/.
_base_ = '../dfine-x_hgnetv2-b5_4xb8-80e_coco.py'

num_classes = 365
data_root = 'data/objects365/'

model = dict(
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                scales=[480, 512, 544, 576, 608]
                + [640] * 3
                + [800, 768, 736, 704, 672],
                stop_epoch=1000000000,
            )
        ]
    )
)
model.update(bbox_head=dict(num_classes=num_classes))
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        _delete_=True,
        type='Objects365V2Dataset',
        data_root=data_root,
        ann_file='annotations/zhiyuan_objv2_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=1),
        pipeline={{_base_.train_pipeline}},
    ),
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='Objects365V2Dataset',
        data_root=data_root,
        ann_file='annotations/zhiyuan_objv2_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline={{_base_.test_pipeline}},
    )
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/zhiyuan_objv2_val.json')
test_evaluator = val_evaluator
optim_wrapper = dict(
    optimizer=dict(lr=0.00025, weight_decay=0.000125),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=2.5e-06))),
)  # fmt: skip
train_cfg = dict(max_epochs=24)
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
default_hooks = dict(checkpoint=dict(interval=1))
