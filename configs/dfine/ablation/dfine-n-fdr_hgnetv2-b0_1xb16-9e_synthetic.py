# D-FINE-N ablation arm "FDR": edge distributions refined layer by layer
# (with the LQE that reads them), trained by varifocal, L1 and GIoU only.
_base_ = './dfine-n-fdr-fgl_hgnetv2-b0_1xb16-9e_synthetic.py'

model = dict(bbox_head=dict(loss_fgl=None))
