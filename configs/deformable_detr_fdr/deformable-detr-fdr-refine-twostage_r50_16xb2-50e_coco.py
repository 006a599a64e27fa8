# Deformable-DETR + FDR alone (ablation arm): distribution refinement in the
# decoder, Deformable-DETR's losses only.
_base_ = './deformable-detr-fdr-fgl-refine-twostage_r50_16xb2-50e_coco.py'

model = dict(bbox_head=dict(loss_fgl=None))
