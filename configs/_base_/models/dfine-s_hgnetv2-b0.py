# D-FINE-S: HGNetV2-B0 with learnable affine blocks, 3 decoder layers; its
# optimizer (shared by M and N, which override this base): LR 2e-4, weight
# decay 1e-4, and the encoder / decoder biases spared from weight decay too.
_base_ = './dfine-l_hgnetv2-b4.py'

model = dict(
    # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
    #   PPHGNetV2_B0_stage1.pth checkpoints/hgnetv2_b0_imagenet.pth
    backbone=dict(arch='B0', use_lab=True, frozen_stages=-1,
                  freeze_norm=False, init_cfg=dict(
                      checkpoint='checkpoints/hgnetv2_b0_imagenet.pth')),
    neck=dict(in_channels=(256, 512, 1024), expansion=0.5, depth_mult=0.34),
    decoder=dict(num_layers=3),
    data_preprocessor=dict(batch_augments=[dict(  # 640 20 times
        type='DFineBatchMultiScaleResize', base_size=640,
        base_size_repeat=20)]),
)  # fmt: skip
optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=1e-4),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(lr=1e-4),
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$'),
    )),
)  # fmt: skip
