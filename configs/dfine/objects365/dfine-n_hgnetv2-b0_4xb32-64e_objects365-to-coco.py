# D-FINE-N fine-tuned on COCO from an Objects365 checkpoint
# (dfine_spec.md §g.7): 64 epochs, augmentation stops at 56, constant
# EMA momentum and no LR warm-up. The class heads of the Objects365
# checkpoint (366 rows for the original's, 365 for
# dfine-n_hgnetv2-b0_4xb32-48e_objects365.py)
# are remapped to the 80 COCO classes when it is loaded:
#   python tools/train.py THIS_CONFIG --cfg-options load_from=obj365.pth
_base_ = [
    '../../_base_/models/dfine-n_hgnetv2-b0.py',
    '../../_base_/datasets/coco_dfine.py',
    '../../_base_/schedules/dfine_objects365-to-coco.py',
]

stop_epoch = 56
train_dataloader = dict(batch_size=32)
train_cfg = dict(max_epochs=64)
auto_scale_lr = dict(base_batch_size=128)
