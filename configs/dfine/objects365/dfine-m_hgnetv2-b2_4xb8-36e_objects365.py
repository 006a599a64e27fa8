# D-FINE-M pre-training on Objects365 (365 classes), as the original
# (dfine_spec.md §g.6): 36 epochs, augmentation and multi-scale never stop.
# Data: mmdet's Objects365V2Dataset layout under data/objects365/.
_base_ = [
    '../../_base_/models/dfine-m_hgnetv2-b2.py',
    '../../_base_/datasets/objects365_dfine.py',
    '../../_base_/schedules/dfine_objects365.py',
]

model = dict(bbox_head=dict(num_classes=365))
# Objects365 LRs (dfine_spec.md §g.6-g.7): L's LR and weight decay
optim_wrapper = dict(
    optimizer=dict(lr=2.5e-4, weight_decay=1.25e-4),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=2.5e-5))))  # fmt: skip
train_cfg = dict(max_epochs=36)
