# D-FINE-N: HGNetV2-B0, two feature levels (strides 16, 32), 128 channels,
# 3 decoder layers (COCO AP 42.8 published).
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
        out_indices=(2, 3),
        frozen_stages=-1,
        freeze_norm=False,
    ),
    neck=dict(
        in_channels=(512, 1024),
        hidden_dim=128,
        dim_feedforward=512,
        use_encoder_idx=(1,),
        expansion=0.34,
        depth_mult=0.5,
    ),
    decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            embed_dims=128, feedforward_channels=512, num_points=(6, 6)
        ),
    ),
    bbox_head=dict(embed_dims=128, num_pred_layer=3),
)

# Recipe (dfine_spec.md §g.5): 160 epochs, augmentation stops at 148.
stop_epoch = 148
model.update(data_preprocessor=dict(batch_augments=None))  # no multi-scale
optim_wrapper = dict(
    optimizer=dict(lr=0.0008, weight_decay=0.0001),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(lr=0.0004),
        backbone_norm=dict(pattern=r'^(?=.*backbone)(?=.*norm|bn).*$',
                           lr=0.0004, weight_decay=0.0),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$'),
    )),
)  # fmt: skip
train_dataloader = dict(batch_size=32)
train_cfg = dict(max_epochs=160)
auto_scale_lr = dict(base_batch_size=128)
