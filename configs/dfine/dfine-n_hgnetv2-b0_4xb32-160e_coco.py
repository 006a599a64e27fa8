# D-FINE-N: HGNetV2-B0, two feature levels (strides 16, 32), 128 channels,
# 3 decoder layers (COCO AP 42.8 published).
_base_ = [
    '../_base_/models/dfine-n_hgnetv2-b0.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]

# Recipe (dfine_spec.md §g.5): 160 epochs, augmentation stops at 148.
stop_epoch = 148
train_dataloader = dict(batch_size=32)
train_cfg = dict(max_epochs=160)
auto_scale_lr = dict(base_batch_size=128)
