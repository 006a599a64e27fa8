# Template: D-FINE-S on your own COCO-format data set (the original's custom
# recipe, dfine_spec.md §g.8: 220 epochs, augmentation stops at 200, total
# batch 64, LR 4e-4, backbone LR 2e-4). Copy this file and edit the block
# below; see "Training on your own data" in the README.
#
#   data/custom/annotations/instances_train.json   images under train/
#   data/custom/annotations/instances_val.json     images under val/
#
# Category ids in the json files may be any integers: the names listed in
# `classes` select them (in that order). An annotation whose category is not
# listed stops the data set build with an error naming it.
_base_ = '../dfine-s_hgnetv2-b0_4xb8-132e_coco.py'

# ---- edit here ------------------------------------------------------------
data_root = 'data/custom/'
classes = ('cat', 'dog')  # the category names of your annotation files
max_epochs = 220
stop_epoch = 200
# ---------------------------------------------------------------------------
num_classes = len(classes)
metainfo = dict(classes=classes)

model = dict(bbox_head=dict(num_classes=num_classes))
train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
    ),
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
    )
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(lr=4e-4),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=2e-4))),
)
train_cfg = dict(max_epochs=max_epochs)
# load_from = 'dfine_s_obj365.pth'  # any format; heads matched by class name
custom_hooks = [
    dict(type='DFineClassRemapHook'),
    # backbone and neck convolutions in channels-last format: 0.84x of
    # the S step on a GPU (docs/benchmarks.md)
    dict(type='DFineChannelsLastHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    # stop_epoch above ends the strong augmentation and the multi-scale
    dict(type='DFineModeSwitchHook',
         switch_pipeline={{_base_.train_pipeline_stage2}}),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
auto_scale_lr = dict(base_batch_size=64)
