# D-FINE-X: HGNetV2-B5, a 384-channel encoder projected to the 256-channel
# decoder, reg_scale 8; L's optimizer with backbone LR 2.5e-6.
_base_ = './dfine-l_hgnetv2-b4.py'

model = dict(
    # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
    #   PPHGNetV2_B5_stage1.pth checkpoints/hgnetv2_b5_imagenet.pth
    backbone=dict(arch='B5', init_cfg=dict(
        checkpoint='checkpoints/hgnetv2_b5_imagenet.pth')),
    neck=dict(hidden_dim=384, dim_feedforward=2048),
    decoder_in_channels=(384, 384, 384),
    decoder=dict(reg_scale=8.0),
    data_preprocessor=dict(batch_augments=[dict(  # 640 three times
        type='DFineBatchMultiScaleResize', base_size=640,
        base_size_repeat=3)]),
)  # fmt: skip
optim_wrapper = dict(paramwise_cfg=dict(groups=dict(backbone=dict(lr=2.5e-6))))
