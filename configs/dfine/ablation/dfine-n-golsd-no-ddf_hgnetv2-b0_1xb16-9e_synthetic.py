# D-FINE-N diagnosis arm: GO-LSD without its distillation (union matching
# for the box and FGL losses, no DDF), to tell which half of GO-LSD moves
# the AP on the demo data (docs/ablation.md). Not one of the four arms.
_base_ = '../dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py'

model = dict(bbox_head=dict(loss_ddf=None))
