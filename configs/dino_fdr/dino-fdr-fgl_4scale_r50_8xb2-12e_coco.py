# DINO + FDR + FGL (ablation arm): FDR with the Fine-Grained Localization
# loss; no distillation, each output matched on its own.
_base_ = './dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py'

model = dict(bbox_head=dict(loss_ddf=None, union_matching=False))
