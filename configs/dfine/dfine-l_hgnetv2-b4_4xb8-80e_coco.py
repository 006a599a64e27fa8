# D-FINE-L: HGNetV2-B4 backbone, 6 decoder layers (COCO AP 54.0 published).
# Model, test pipeline and COCO evaluator; inference with converted
# official / transformers weights. The other variants inherit this file.
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['dfine_mm'], allow_failed_imports=False)

num_classes = 80
img_scale = (640, 640)

model = dict(
    type='DFINE',
    num_queries=300,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[0.0, 0.0, 0.0],
        std=[255.0, 255.0, 255.0],  # RGB in [0, 1], no normalisation
        bgr_to_rgb=True,
        pad_size_divisor=32,
    ),
    backbone=dict(
        # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
        #   PPHGNetV2_B4_stage1.pth checkpoints/hgnetv2_b4_imagenet.pth
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/hgnetv2_b4_imagenet.pth'
        ),
        type='HGNetV2',
        arch='B4',
        use_lab=False,
        out_indices=(1, 2, 3),
        frozen_stages=0,  # the stem
        freeze_norm=True,
    ),
    neck=dict(
        type='DFineHybridEncoder',
        in_channels=(512, 1024, 2048),
        hidden_dim=256,
        num_heads=8,
        dim_feedforward=1024,
        use_encoder_idx=(2,),
        expansion=1.0,
        depth_mult=1.0,
    ),
    decoder=dict(
        num_layers=6,
        eval_idx=-1,
        reg_max=32,
        reg_scale=4.0,
        up=0.5,
        layer_cfg=dict(
            embed_dims=256,
            num_heads=8,
            feedforward_channels=1024,
            num_points=(3, 6, 3),
            cross_attn_method='default',
        ),
    ),
    dn_cfg=dict(num_denoising=100, label_noise_ratio=0.5, box_noise_scale=1.0),
    bbox_head=dict(
        type='DFineHead',
        num_classes=num_classes,
        embed_dims=256,
        num_pred_layer=6,
        reg_max=32,
        eval_idx=-1,
        loss_cls=dict(
            type='DFineVarifocalLoss', alpha=0.75, gamma=2.0, loss_weight=1.0
        ),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_fgl=dict(type='DFineFGLLoss', loss_weight=0.15),
        loss_ddf=dict(type='DFineDDFLoss', temperature=5.0, loss_weight=1.5),
        union_matching=True,  # GO-LSD
    ),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0, eps=1e-8),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0),
            ],
        )
    ),
    test_cfg=dict(max_per_img=300),
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

# ---------------------------------------------------------------------------
# Training recipe of the original (dfine_spec.md §g): 4 GPUs x 8 images.
# Variants override the values in this block.
# ---------------------------------------------------------------------------
max_epochs = 80
stop_epoch = 72  # strong augmentation and multi-scale off from this epoch
# (a child config that sets stop_epoch moves both; see DFineModeSwitchHook)
base_lr = 2.5e-4
backbone_lr = 1.25e-5
weight_decay = 1.25e-4
multi_scale_repeat = 4  # times 640 appears in the multi-scale list

# batch multi-scale: 480-800 around 640; DFineModeSwitchHook stops it at
# stop_epoch (read when training starts, so a child's stop_epoch counts)
model['data_preprocessor']['batch_augments'] = [
    dict(
        type='DFineBatchMultiScaleResize',
        base_size=img_scale[0],
        base_size_repeat=multi_scale_repeat,
    )
]

# ops 1-3 (photometric, zoom-out, IoU crop) stop at stop_epoch
train_pipeline = [
    dict(type='DFineLoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='DFinePhotometricDistort', prob=0.5),
    dict(type='Expand', mean=(0, 0, 0), to_rgb=False, ratio_range=(1, 4),
         prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
             min_crop_size=0.3)]),
    dict(type='DFineSanitizeBoxes', min_size=1),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='DFineSanitizeBoxes', min_size=1),
    dict(type='PackDetInputs'),
]  # fmt: skip
train_pipeline_stage2 = [
    dict(type='DFineLoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='DFineSanitizeBoxes', min_size=1),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='DFineSanitizeBoxes', min_size=1),
    dict(type='PackDetInputs'),
]  # fmt: skip
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
# AdamW; the backbone at its own LR; no weight decay on the norms of the
# encoder and decoder (L and X; N, S and M also spare their biases).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999),
                   weight_decay=weight_decay),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='DFineOptimWrapperConstructor',
    # groups keyed by name: a child changes one, e.g.
    # paramwise_cfg=dict(groups=dict(backbone=dict(lr=1e-5)))
    paramwise_cfg=dict(groups=dict(
        backbone=dict(pattern=r'^(?=.*backbone)(?!.*norm|bn).*$',
                      lr=backbone_lr),
        # empty for L and X, whose backbone norms are frozen
        backbone_norm=dict(pattern=r'^(?=.*backbone)(?=.*norm|bn).*$',
                           lr=backbone_lr, weight_decay=0.0),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn)).*$',
                  weight_decay=0.0),
    )),
)  # fmt: skip
# linear warm-up over 500 iterations, then constant
param_scheduler = [
    dict(type='LinearLR', start_factor=1 / 500, by_epoch=False, begin=0,
         end=500),
]  # fmt: skip
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    dict(type='DFineModeSwitchHook', switch_pipeline=train_pipeline_stage2),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=12, max_keep_ckpts=3,
                    save_best='auto'),
)  # fmt: skip
# 4 GPUs x 8 images; `--auto-scale-lr` rescales the LR for other totals
auto_scale_lr = dict(enable=False, base_batch_size=32)
