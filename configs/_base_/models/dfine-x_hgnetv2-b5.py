# D-FINE-X: HGNetV2-B5, a 384-channel encoder projected to the 256-channel
# decoder, reg_scale 8.
_base_ = './dfine-l_hgnetv2-b4.py'

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
    # multi-scale list with 640 3 times
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                base_size=640,
                base_size_repeat=3,
            )
        ]
    ),
)
