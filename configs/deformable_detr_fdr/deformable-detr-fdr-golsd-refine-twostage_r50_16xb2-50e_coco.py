# Deformable-DETR + FDR + GO-LSD (the paper's full method on Deformable-DETR):
# mmdet's Deformable-DETR with box refinement and two stages, R-50 50e, with
# D-FINE's Fine-grained Distribution Refinement in the decoder and head, the
# Fine-Grained Localization loss, the union of the decoder outputs' matchings
# for the box losses and Decoupled Distillation Focal (DDF) self-distillation
# from the last layer. Changes to mmdet's config: the two `type` values and
# the FDR keys.
_base_ = 'mmdet::deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py'  # noqa: E501
custom_imports = dict(imports=['dfine_mm'], allow_failed_imports=False)

model = dict(
    type='FDRDeformableDETR',  # was 'DeformableDETR'
    decoder=dict(reg_max=32, reg_scale=4.0, up=0.5, eval_idx=-1),
    bbox_head=dict(
        # was 'DeformableDETRHead'; Deformable-DETR's focal/L1/GIoU losses
        type='FDRDeformableDETRHead',
        reg_max=32,
        eval_idx=-1,
        loss_fgl=dict(type='DFineFGLLoss', loss_weight=0.15),
        loss_ddf=dict(type='DFineDDFLoss', temperature=5.0, loss_weight=1.5),
        union_matching=True,
    ),
)
