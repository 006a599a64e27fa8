# D-FINE-S: HGNetV2-B0 with learnable affine blocks, 3 decoder layers
# .
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
        frozen_stages=-1,
        freeze_norm=False,
    ),
    neck=dict(in_channels=(256, 512, 1024), expansion=0.5, depth_mult=0.34),
    decoder=dict(num_layers=3),
    # multi-scale list with 640 20 times
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                base_size=640,
                base_size_repeat=20,
            )
        ]
    ),
)
