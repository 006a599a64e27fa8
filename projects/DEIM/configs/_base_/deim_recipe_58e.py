# DEIM's recipe for DEIM-D-FINE-L and X: 58 epochs (D-FINE's 80), the
# mosaic and MixUp in epochs 4-28, D-FINE's augmentation until 50.
_base_ = './deim_recipe.py'

max_epochs = 58
mosaic_epochs = mixup_epochs = (4, 29)
stop_epoch = 50
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='DEIMFlatCosineLR', warmup_iters=2000, flat_epoch=29,
         no_aug_epoch=8, lr_gamma=0.5, convert_to_iter_based=True),
]  # fmt: skip
