# D-FINE-L: HGNetV2-B4, 6 decoder layers, and its optimizer (the LRs and
# parameter groups differ per variant, dfine_spec.md §g.4-g.5). The N / S /
# M / X bases override it; configs/dfine/ combines a variant with a data set
# (configs/_base_/datasets/) and a recipe (configs/_base_/schedules/).
custom_imports = dict(imports=['dfine_mm'], allow_failed_imports=False)

num_classes = 80

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
        # layers, bins, eval_idx and channels come from the decoder (DFINE
        # gives them to the head)
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
# batch multi-scale around 640 (640 four times in the list); stopped by
# DFineModeSwitchHook at the config's stop_epoch
model['data_preprocessor']['batch_augments'] = [
    dict(type='DFineBatchMultiScaleResize', base_size=640, base_size_repeat=4)
]

# AdamW with AMP and clipping; the backbone at its own LR; no weight decay
# on the norms of the encoder and decoder (the S base also spares their
# biases). Groups are keyed by name: a child changes one, e.g.
# optim_wrapper = dict(paramwise_cfg=dict(groups=dict(backbone=dict(
#     lr=1e-5)))). (The original's N / S / M configs also list a
# backbone-norm group whose regex matches no parameter; it is left out.)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=2.5e-4, betas=(0.9, 0.999),
                   weight_decay=1.25e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    constructor='DFineOptimWrapperConstructor',
    paramwise_cfg=dict(groups=dict(
        backbone=dict(pattern=r'^(?=.*backbone)(?!.*norm|bn).*$',
                      lr=1.25e-5),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn)).*$',
                  weight_decay=0.0),
    )),
)  # fmt: skip
