# D-FINE-S: HGNetV2-B0 with learnable affine blocks, 3 decoder layers
# (COCO AP 48.5 published).
_base_ = [
    '../_base_/models/dfine-s_hgnetv2-b0.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]

# Recipe (dfine_spec.md §g.5): 132 epochs, augmentation stops at 120.
stop_epoch = 120
optim_wrapper = dict(
    optimizer=dict(lr=0.0002, weight_decay=0.0001),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(lr=0.0001),
        # no weight decay on the biases either
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$'),
    )),
)  # fmt: skip
train_cfg = dict(max_epochs=132)
