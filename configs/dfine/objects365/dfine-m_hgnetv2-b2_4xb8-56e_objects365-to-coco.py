# D-FINE-M fine-tuned on COCO from an Objects365 checkpoint
# (dfine_spec.md §g.7): 56 epochs, augmentation stops at 48, constant
# EMA momentum and no LR warm-up. The class heads of the Objects365
# checkpoint (366 rows for the original's, 365 for
# dfine-m_hgnetv2-b2_4xb8-36e_objects365.py)
# are remapped to the 80 COCO classes when it is loaded:
#   python tools/train.py THIS_CONFIG --cfg-options load_from=obj365.pth
_base_ = [
    '../../_base_/models/dfine-m_hgnetv2-b2.py',
    '../../_base_/datasets/coco_dfine.py',
    '../../_base_/schedules/dfine_objects365-to-coco.py',
]

stop_epoch = 48
# Objects365 LRs (dfine_spec.md §g.6-g.7): L's LR and weight decay
optim_wrapper = dict(
    optimizer=dict(lr=2.5e-4, weight_decay=1.25e-4),
    paramwise_cfg=dict(groups=dict(backbone=dict(lr=2.5e-5))))  # fmt: skip
train_cfg = dict(max_epochs=56)
