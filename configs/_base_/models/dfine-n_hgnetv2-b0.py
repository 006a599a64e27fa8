# D-FINE-N: HGNetV2-B0, two feature levels (strides 16, 32), 128 channels,
# 3 decoder layers.
_base_ = './dfine-l_hgnetv2-b4.py'

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
    data_preprocessor=dict(batch_augments=None),  # no multi-scale
)
