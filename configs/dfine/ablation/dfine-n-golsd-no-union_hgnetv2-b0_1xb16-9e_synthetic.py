# D-FINE-N diagnosis arm: GO-LSD's distillation (DDF) without union
# matching (each output's own pairs), the other half of GO-LSD
# (docs/ablation.md). Not one of the four arms.
_base_ = '../dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py'

model = dict(bbox_head=dict(union_matching=False))
