# DEIM-D-FINE-L: D-FINE-L trained with DEIM (COCO AP 54.7 published; D-FINE-L
# 54.0) in 58 epochs instead of 80; D-FINE-L's optimizer groups with LR
# 5e-4, backbone 2.5e-5.
_base_ = [
    '../../../configs/_base_/models/dfine-l_hgnetv2-b4.py',
    './_base_/deim_coco.py',
    './_base_/deim_recipe_58e.py',
]
custom_imports = dict(
    imports=['dfine_mm', 'projects.DEIM.deim'], allow_failed_imports=False
)

model = _base_.deim_model
optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=2.5e-5))),
)
