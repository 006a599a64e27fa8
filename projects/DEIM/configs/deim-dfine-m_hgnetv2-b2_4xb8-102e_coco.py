# DEIM-D-FINE-M: D-FINE-M trained with DEIM (COCO AP 52.7 published; D-FINE-M
# 52.3); DEIM-S's optimizer groups with backbone LR 4e-5.
_base_ = [
    '../../../configs/_base_/models/dfine-m_hgnetv2-b2.py',
    './_base_/deim_coco.py',
    './_base_/deim_recipe.py',
]
custom_imports = dict(
    imports=['dfine_mm', 'projects.DEIM.deim'], allow_failed_imports=False
)

model = _base_.deim_model
optim_wrapper = dict(
    optimizer=dict(lr=4e-4),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(pattern=r'^(?=.*backbone)(?!.*bn).*$', lr=4e-5),
        norm=dict(pattern=r'^(?=.*(?:norm|bn)).*$'),
    )),
)  # fmt: skip
max_epochs = 102
mosaic_epochs = mixup_epochs = (4, 49)
stop_epoch = 90
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='DEIMFlatCosineLR', warmup_iters=2000, flat_epoch=49,
         no_aug_epoch=12, lr_gamma=0.5, convert_to_iter_based=True),
]  # fmt: skip
