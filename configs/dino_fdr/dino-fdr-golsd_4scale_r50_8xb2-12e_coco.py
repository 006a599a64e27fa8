# DINO + FDR + GO-LSD (the paper's full method on DINO): mmdet's DINO-4scale
# R-50 12e with D-FINE's Fine-grained Distribution Refinement in the decoder
# and head, the Fine-Grained Localization loss, the union of all outputs'
# matchings for the box losses and Decoupled Distillation Focal (DDF)
# self-distillation from the last layer. Changes to mmdet's config: the two
# `type` values and the FDR keys.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['dfine_mm'], allow_failed_imports=False)

model = dict(
    type='FDRDINO',  # was 'DINO'
    decoder=dict(reg_max=32, reg_scale=4.0, up=0.5, eval_idx=-1),
    bbox_head=dict(
        type='FDRDINOHead',  # was 'DINOHead'; DINO's focal/L1/GIoU losses
        reg_max=32,
        eval_idx=-1,
        loss_fgl=dict(type='DFineFGLLoss', loss_weight=0.15),
        loss_ddf=dict(type='DFineDDFLoss', temperature=5.0, loss_weight=1.5),
        union_matching=True,
    ),
)
