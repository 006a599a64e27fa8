# D-FINE-S: HGNetV2-B0 with learnable affine blocks, 3 decoder layers
# (COCO AP 48.5 published).
_base_ = './dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

model = dict(
    backbone=dict(
        # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
        #   PPHGNetV2_B0_stage1.pth checkpoints/hgnetv2_b0_imagenet.pth
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/hgnetv2_b0_imagenet.pth'
        ),
        arch='B0',
        use_lab=True,
        frozen_stages=-1,
        freeze_norm=False,
    ),
    neck=dict(in_channels=(256, 512, 1024), expansion=0.5, depth_mult=0.34),
    decoder=dict(num_layers=3),
    bbox_head=dict(num_pred_layer=3),
)

# Recipe (dfine_spec.md §g.5): 132 epochs, augmentation stops at 120.
stop_epoch = 120
model.update(
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                base_size=640,
                base_size_repeat=20,
            )
        ]
    )
)
optim_wrapper = dict(
    optimizer=dict(lr=0.0002, weight_decay=0.0001),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(lr=0.0001),
        backbone_norm=dict(pattern=r'^(?=.*backbone)(?=.*norm|bn).*$',
                           lr=0.0001, weight_decay=0.0),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$'),
    )),
)  # fmt: skip
train_dataloader = dict(batch_size=8)
train_cfg = dict(max_epochs=132)
auto_scale_lr = dict(base_batch_size=32)
