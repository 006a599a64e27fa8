# DEIM-D-FINE-X: D-FINE-X trained with DEIM (COCO AP 56.5 published; D-FINE-X
# 55.8) in 58 epochs instead of 80; D-FINE-X's optimizer groups with LR
# 5e-4, backbone 5e-6.
_base_ = [
    '../../../configs/_base_/models/dfine-x_hgnetv2-b5.py',
    './_base_/deim_coco.py',
    './_base_/deim_recipe_58e.py',
]
custom_imports = dict(
    imports=['dfine_mm', 'projects.DEIM.deim'], allow_failed_imports=False
)

model = _base_.deim_model
optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=5e-6))),
)
