# D-FINE-S: HGNetV2-B0 with learnable affine blocks, 3 decoder layers
# (COCO AP 48.5 published).
_base_ = [
    '../_base_/models/dfine-s_hgnetv2-b0.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]

# Recipe (dfine_spec.md §g.5): 132 epochs, augmentation stops at 120.
stop_epoch = 120
train_cfg = dict(max_epochs=132)
