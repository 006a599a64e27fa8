# DINO + FDR alone (ablation arm): distribution refinement in the decoder,
# DINO's losses only.
_base_ = './dino-fdr-fgl_4scale_r50_8xb2-12e_coco.py'

model = dict(bbox_head=dict(loss_fgl=None))
