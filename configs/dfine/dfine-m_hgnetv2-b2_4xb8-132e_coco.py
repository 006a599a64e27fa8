# D-FINE-M: HGNetV2-B2 with learnable affine blocks, 4 decoder layers
# (COCO AP 52.3 published).
_base_ = './dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

model = dict(
    backbone=dict(
        arch='B2', use_lab=True, frozen_stages=-1, freeze_norm=False
    ),
    neck=dict(in_channels=(384, 768, 1536), expansion=1.0, depth_mult=0.67),
    decoder=dict(num_layers=4),
    bbox_head=dict(num_pred_layer=4),
)
