# DEIM-D-FINE-N: D-FINE-N trained with DEIM (COCO AP 43.0 published; D-FINE-N
# 42.8); D-FINE-N's optimizer (LR 8e-4, backbone 4e-4) and 4 GPUs x 32
# images; after warm-up the LR stays flat (flat_epoch beyond the run).
_base_ = [
    '../../../configs/_base_/models/dfine-n_hgnetv2-b0.py',
    './_base_/deim_coco.py',
    './_base_/deim_recipe.py',
]
custom_imports = dict(
    imports=['dfine_mm', 'projects.DEIM.deim'], allow_failed_imports=False
)

model = _base_.deim_model
max_epochs = 160
mosaic_epochs = mixup_epochs = (4, 78)
stop_epoch = 148
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='DEIMFlatCosineLR', warmup_iters=2000, flat_epoch=7800,
         no_aug_epoch=12, lr_gamma=1.0, convert_to_iter_based=True),
]  # fmt: skip
train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(base_batch_size=128)
