# D-FINE-X: HGNetV2-B5, a 384-channel encoder projected to the 256-channel
# decoder, reg_scale 8 (COCO AP 55.8 published).
_base_ = './dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

model = dict(
    backbone=dict(
        # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
        #   PPHGNetV2_B5_stage1.pth checkpoints/hgnetv2_b5_imagenet.pth
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/hgnetv2_b5_imagenet.pth'
        ),
        arch='B5',
    ),
    neck=dict(hidden_dim=384, dim_feedforward=2048),
    decoder_in_channels=(384, 384, 384),
    decoder=dict(reg_scale=8.0),
)

# Recipe (dfine_spec.md §g.5): 80 epochs, augmentation stops at 72.
stop_epoch = 72
model.update(
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                base_size=640,
                base_size_repeat=3,
            )
        ]
    )
)
optim_wrapper = dict(
    optimizer=dict(lr=0.00025, weight_decay=0.000125),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=2.5e-06))),
)  # fmt: skip
train_dataloader = dict(batch_size=8)
train_cfg = dict(max_epochs=80)
auto_scale_lr = dict(base_batch_size=32)
