# D-FINE-M: HGNetV2-B2 with learnable affine blocks, 4 decoder layers
# .
_base_ = './dfine-l_hgnetv2-b4.py'

model = dict(
    backbone=dict(
        # ImageNet weights: python tools/model_converters/dfine_to_mmdet.py
        #   PPHGNetV2_B2_stage1.pth checkpoints/hgnetv2_b2_imagenet.pth
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/hgnetv2_b2_imagenet.pth'
        ),
        arch='B2',
        use_lab=True,
        frozen_stages=-1,
        freeze_norm=False,
    ),
    neck=dict(in_channels=(384, 768, 1536), expansion=1.0, depth_mult=0.67),
    decoder=dict(num_layers=4),
    # multi-scale list with 640 6 times
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='DFineBatchMultiScaleResize',
                base_size=640,
                base_size_repeat=6,
            )
        ]
    ),
)
