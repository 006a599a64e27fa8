# D-FINE-N ablation arm "FDR + FGL" on the demo data: FDR with the
# Fine-Grained Localization loss; no distillation (DDF) and each output
# matched on its own (no GO-LSD union). The full model (GO-LSD) is the demo
# config itself. tools/analysis_tools/fdr_ablation.py runs the arms.
_base_ = '../dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py'

model = dict(bbox_head=dict(loss_ddf=None, union_matching=False))
