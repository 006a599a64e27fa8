# D-FINE-N pre-training on Objects365 (365 classes), as the original
# (dfine_spec.md §g.6): 48 epochs, augmentation and multi-scale never stop.
# Data: mmdet's Objects365V2Dataset layout under data/objects365/.
_base_ = [
    '../../_base_/models/dfine-n_hgnetv2-b0.py',
    '../../_base_/datasets/objects365_dfine.py',
    '../../_base_/schedules/dfine_objects365.py',
]

model = dict(bbox_head=dict(num_classes=365))
train_dataloader = dict(batch_size=32)
train_cfg = dict(max_epochs=48)
auto_scale_lr = dict(base_batch_size=128)
