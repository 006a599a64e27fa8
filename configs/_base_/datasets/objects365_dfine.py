# Objects365 for D-FINE: mmdet's Objects365V2Dataset layout under
# data/objects365/, with the COCO configs' pipelines.
_base_ = './coco_dfine.py'

data_root = 'data/objects365/'
__dataset = dict(_delete_=True, type='Objects365V2Dataset',
                 data_root=data_root)  # fmt: skip
train_dataloader = dict(dataset=dict(
    **__dataset, ann_file='annotations/zhiyuan_objv2_train.json',
    data_prefix=dict(img='train/'),
    filter_cfg=dict(filter_empty_gt=False, min_size=1),
    pipeline={{_base_.train_pipeline}}))  # fmt: skip
val_dataloader = dict(dataset=dict(
    **__dataset, ann_file='annotations/zhiyuan_objv2_val.json',
    data_prefix=dict(img='val/'), test_mode=True,
    pipeline={{_base_.test_pipeline}}))  # fmt: skip
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/zhiyuan_objv2_val.json')
test_evaluator = val_evaluator
