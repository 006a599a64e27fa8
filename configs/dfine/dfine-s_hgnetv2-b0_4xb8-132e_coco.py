# D-FINE-S: HGNetV2-B0 with learnable affine blocks, 3 decoder layers
# (COCO AP 48.5 published).
_base_ = './dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

model = dict(
    backbone=dict(
        arch='B0', use_lab=True, frozen_stages=-1, freeze_norm=False
    ),
    neck=dict(in_channels=(256, 512, 1024), expansion=0.5, depth_mult=0.34),
    decoder=dict(num_layers=3),
    bbox_head=dict(num_pred_layer=3),
)
