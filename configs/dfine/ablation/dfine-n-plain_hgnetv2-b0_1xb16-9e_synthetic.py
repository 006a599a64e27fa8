# D-FINE-N ablation baseline "plain": FDR replaced by RT-DETR-style box
# regression (4 offsets per decoder layer in inverse-sigmoid space, no
# distributions, no LQE, no layer-0 pre-head); everything else as D-FINE-N.
_base_ = './dfine-n-fdr_hgnetv2-b0_1xb16-9e_synthetic.py'

model = dict(fdr=False)
