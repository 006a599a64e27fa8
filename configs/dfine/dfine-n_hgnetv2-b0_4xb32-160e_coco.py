# D-FINE-N: HGNetV2-B0, two feature levels (strides 16, 32), 128 channels,
# 3 decoder layers (COCO AP 42.8 published).
_base_ = './dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

model = dict(
    backbone=dict(
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
    bbox_head=dict(embed_dims=128, num_pred_layer=3),
)
