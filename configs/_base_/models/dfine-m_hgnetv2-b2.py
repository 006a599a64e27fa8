# D-FINE-M: HGNetV2-B2 with learnable affine blocks, 4 decoder layers; the
# S base's optimizer with backbone LR 2e-5.
_base_ = './dfine-s_hgnetv2-b0.py'

model = dict(
    # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
    #   PPHGNetV2_B2_stage1.pth checkpoints/hgnetv2_b2_imagenet.pth
    backbone=dict(arch='B2', init_cfg=dict(
        checkpoint='checkpoints/hgnetv2_b2_imagenet.pth')),
    neck=dict(in_channels=(384, 768, 1536), expansion=1.0, depth_mult=0.67),
    decoder=dict(num_layers=4),
    data_preprocessor=dict(batch_augments=[dict(  # 640 six times
        type='DFineBatchMultiScaleResize', base_size=640,
        base_size_repeat=6)]),
)  # fmt: skip
optim_wrapper = dict(paramwise_cfg=dict(groups=dict(backbone=dict(lr=2e-5))))
