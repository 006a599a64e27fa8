# D-FINE-X: HGNetV2-B5, a 384-channel encoder projected to the 256-channel
# decoder, reg_scale 8 (COCO AP 55.8 published).
_base_ = './dfine-l_hgnetv2-b4_4xb8-80e_coco.py'

model = dict(
    backbone=dict(arch='B5'),
    neck=dict(hidden_dim=384, dim_feedforward=2048),
    decoder_in_channels=(384, 384, 384),
    decoder=dict(reg_scale=8.0),
)
