# D-FINE-X fine-tuned on COCO from an Objects365 checkpoint
# (dfine_spec.md §g.7): 36 epochs, augmentation stops at 30, constant
# EMA momentum and no LR warm-up. The class heads of the Objects365
# checkpoint (366 rows for the original's, 365 for
# dfine-x_hgnetv2-b5_4xb8-24e_objects365.py)
# are remapped to the 80 COCO classes when it is loaded:
#   python tools/train.py THIS_CONFIG --cfg-options load_from=obj365.pth
_base_ = [
    '../../_base_/models/dfine-x_hgnetv2-b5.py',
    '../../_base_/datasets/coco_dfine.py',
    '../../_base_/schedules/dfine_objects365-to-coco.py',
]

stop_epoch = 30
train_cfg = dict(max_epochs=36)
