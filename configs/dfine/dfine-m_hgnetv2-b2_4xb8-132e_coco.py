# D-FINE-M: HGNetV2-B2 with learnable affine blocks, 4 decoder layers
# (COCO AP 52.3 published).
_base_ = [
    '../_base_/models/dfine-m_hgnetv2-b2.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]

# Recipe (dfine_spec.md §g.5): 132 epochs, augmentation stops at 120.
stop_epoch = 120
train_cfg = dict(max_epochs=132)
