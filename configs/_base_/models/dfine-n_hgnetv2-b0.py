# D-FINE-N: HGNetV2-B0, two feature levels (strides 16, 32), 128 channels,
# 3 decoder layers; the S base's optimizer with LR 8e-4, backbone LR 4e-4.
_base_ = './dfine-s_hgnetv2-b0.py'

model = dict(
    backbone=dict(out_indices=(2, 3)),
    neck=dict(in_channels=(512, 1024), hidden_dim=128, dim_feedforward=512,
              use_encoder_idx=(1,), expansion=0.34, depth_mult=0.5),
    decoder=dict(layer_cfg=dict(embed_dims=128, feedforward_channels=512,
                                num_points=(6, 6))),
    data_preprocessor=dict(batch_augments=None),  # no multi-scale
)  # fmt: skip
optim_wrapper = dict(
    optimizer=dict(lr=8e-4),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=4e-4))),
)
