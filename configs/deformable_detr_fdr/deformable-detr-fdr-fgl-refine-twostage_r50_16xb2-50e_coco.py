# Deformable-DETR + FDR + FGL (ablation arm): FDR with the Fine-Grained
# Localization loss; no distillation, each output matched on its own.
_base_ = './deformable-detr-fdr-golsd-refine-twostage_r50_16xb2-50e_coco.py'

model = dict(bbox_head=dict(loss_ddf=None, union_matching=False))
