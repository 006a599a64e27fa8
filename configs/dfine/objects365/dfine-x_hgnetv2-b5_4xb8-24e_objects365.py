# D-FINE-X pre-training on Objects365 (365 classes), as the original
# (dfine_spec.md §g.6): 24 epochs, augmentation and multi-scale never stop.
# Data: mmdet's Objects365V2Dataset layout under data/objects365/.
_base_ = [
    '../../_base_/models/dfine-x_hgnetv2-b5.py',
    '../../_base_/datasets/objects365_dfine.py',
    '../../_base_/schedules/dfine_objects365.py',
]

model = dict(bbox_head=dict(num_classes=365))
train_cfg = dict(max_epochs=24)
