# D-FINE-M: HGNetV2-B2 with learnable affine blocks, 4 decoder layers
# (COCO AP 52.3 published).
_base_ = [
    '../_base_/models/dfine-m_hgnetv2-b2.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]

# Recipe (dfine_spec.md §g.5): 132 epochs, augmentation stops at 120.
stop_epoch = 120
optim_wrapper = dict(
    optimizer=dict(lr=0.0002, weight_decay=0.0001),
    paramwise_cfg=dict(groups=dict(
        backbone=dict(lr=2e-05),
        # no weight decay on the biases either
        norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$'),
    )),
)  # fmt: skip
train_cfg = dict(max_epochs=132)
