# DEIM-D-FINE-S: D-FINE-S trained with DEIM (COCO AP 49.0 published; D-FINE-S
# 48.5). The recipe base holds S's epochs and schedule.
_base_ = [
    '../../../configs/_base_/models/dfine-s_hgnetv2-b0.py',
    './_base_/deim_coco.py',
    './_base_/deim_recipe.py',
]
custom_imports = dict(
    imports=['dfine_mm', 'projects.DEIM.deim'], allow_failed_imports=False
)

model = _base_.deim_model
# LR 4e-4, the backbone at 2e-4 but for its BN, which joins the other norms
# (main LR, no weight decay); biases keep their weight decay
optim_wrapper = dict(
    optimizer=dict(lr=4e-4),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(pattern=r'^(?=.*backbone)(?!.*bn).*$', lr=2e-4),
        norm=dict(pattern=r'^(?=.*(?:norm|bn)).*$'),
    )),
)  # fmt: skip
