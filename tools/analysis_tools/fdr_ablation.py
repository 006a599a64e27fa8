"""FDR / GO-LSD ablation on mmdet's DINO with the synthetic data set (CPU).

Example::

    python tools/analysis_tools/fdr_ablation.py --work-dir work_dirs/ablation

Arms: plain DINO (``mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py``),
DINO + FDR and DINO + FDR + GO-LSD (``configs/dino_fdr/``). Every arm gets
the same small setting: ResNet-``--depth`` from scratch (trainable batch
norm) giving three feature levels (strides 16, 32, 64),
``--encoder-layers`` encoder layers, FFNs of ``--ffn`` channels, six decoder
layers, ``--img-size`` square images, ``--queries`` queries, the same data,
budget
(``--epochs``, ``--batch-size``, ``--lr``) and seed. Each arm is a config
written into the work directory (its ``_base_`` is the arm's config) and
trained with ``tools/train.py``; the table of COCO AP / AP50 / AP75 on the
validation split is printed and written to ``WORK_DIR/ablation.md``.
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmengine.logging import print_log

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARMS = dict(
    dino='mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
    dino_fdr=osp.join(ROOT, 'configs', 'dino_fdr',
                      'dino-fdr_4scale_r50_8xb2-12e_coco.py'),
    dino_fdr_golsd=osp.join(ROOT, 'configs', 'dino_fdr',
                            'dino-fdr-golsd_4scale_r50_8xb2-12e_coco.py'),
)  # fmt: skip
ARM_CONFIG = """_base_ = {base!r}
custom_imports = dict(imports=['dfine_mm'], allow_failed_imports=False)
randomness = dict(seed={seed})
data_root = {data_root!r}
classes = {classes!r}
metainfo = dict(classes=classes)
size = ({size}, {size})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=size, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
ffn = dict(feedforward_channels={ffn})
model = dict(
    num_queries={queries},
    num_feature_levels=3,
    backbone=dict(depth={depth}, out_indices=(2, 3), frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False, init_cfg=None),
    neck=dict(in_channels={neck_channels}, num_outs=3),
    encoder=dict(num_layers={encoder_layers}, layer_cfg=dict(
        self_attn_cfg=dict(num_levels=3), ffn_cfg=ffn)),
    decoder=dict(layer_cfg=dict(cross_attn_cfg=dict(num_levels=3),
                                ffn_cfg=ffn)),
    bbox_head=dict(num_classes={num_classes}),
    test_cfg=dict(max_per_img=100),
)
train_dataloader = dict(
    batch_size={batch_size}, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'),
                 filter_cfg=dict(filter_empty_gt=False),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr={lr}),
                     paramwise_cfg=dict(custom_keys=dict()))
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False,
                        begin=0, end=50)]
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval={epochs}, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False)
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/fdr_ablation')
    parser.add_argument('--arms', nargs='+', default=list(ARMS),
                        choices=list(ARMS))  # fmt: skip
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--img-size', type=int, default=320)
    parser.add_argument('--num-classes', type=int, default=5)
    parser.add_argument('--depth', type=int, default=18, choices=(18, 50))
    parser.add_argument('--queries', type=int, default=100)
    parser.add_argument('--encoder-layers', type=int, default=3)
    parser.add_argument('--ffn', type=int, default=1024)
    parser.add_argument('--epochs', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=2e-4)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def make_data(args) -> str:
    """The synthetic data set (reused when present); returns its root."""
    from dfine_mm.datasets.synthetic import generate_synthetic_coco

    root = osp.join(args.work_dir, 'data')
    stamp = osp.join(root, 'ablation_data.json')
    spec = dict(num_train=args.num_train, num_val=args.num_val,
                img_size=args.img_size, num_classes=args.num_classes,
                max_objects=8, min_object_size=16, seed=args.seed)  # fmt: skip
    if osp.isfile(stamp):
        with open(stamp) as file:
            if json.load(file) == spec:
                return root
    generate_synthetic_coco(root, overwrite=True, **spec)
    with open(stamp, 'w') as file:
        json.dump(spec, file)
    return root


def write_arm_config(args, arm: str, data_root: str) -> str:
    from dfine_mm.datasets.synthetic import synthetic_classes

    path = osp.join(args.work_dir, f'{arm}.py')
    text = ARM_CONFIG.format(
        base=ARMS[arm], seed=args.seed, data_root=data_root + '/',
        classes=tuple(synthetic_classes(args.num_classes)),
        size=args.img_size, queries=args.queries, depth=args.depth,
        neck_channels=[256, 512] if args.depth < 50 else [1024, 2048],
        encoder_layers=args.encoder_layers, ffn=args.ffn,
        num_classes=args.num_classes, batch_size=args.batch_size,
        lr=args.lr, epochs=args.epochs,
    )  # fmt: skip
    with open(path, 'w') as file:
        file.write(text)
    return path


def read_metrics(work_dir: str) -> dict:
    """The last validation metrics mmengine wrote (scalars.json)."""
    found = None
    for folder in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, folder, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            found = path
    if found is None:
        raise RuntimeError(f'no metrics under {work_dir}; see its log')
    metrics = {}
    with open(found) as file:
        for line in file:
            record = json.loads(line)
            if 'coco/bbox_mAP' in record:
                metrics = record
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    data_root = make_data(args)
    rows = []
    for arm in args.arms:
        config = write_arm_config(args, arm, data_root)
        arm_dir = osp.join(args.work_dir, arm)
        start = time.time()
        subprocess.run(
            [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
             '--work-dir', arm_dir],
            check=True,
        )  # fmt: skip
        metrics = read_metrics(arm_dir)
        rows.append((arm, metrics, time.time() - start))
    lines = [
        f'Synthetic data: {args.num_train} train / {args.num_val} val '
        f'images, {args.img_size} px, {args.num_classes} classes; '
        f'ResNet-{args.depth} from scratch, 3 levels (strides 16-64), '
        f'{args.encoder_layers} encoder / 6 decoder layers, FFN {args.ffn}, '
        f'{args.queries} queries, '
        f'{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, '
        f'seed {args.seed}.',
        '',
        '| arm | AP | AP50 | AP75 | wall time |',
        '| --- | --- | --- | --- | --- |',
    ]
    for arm, metrics, seconds in rows:
        lines.append(
            f'| {arm} | {metrics["coco/bbox_mAP"]:.3f} | '
            f'{metrics["coco/bbox_mAP_50"]:.3f} | '
            f'{metrics["coco/bbox_mAP_75"]:.3f} | {seconds / 60:.1f} min |'
        )
    table = '\n'.join(lines)
    with open(osp.join(args.work_dir, 'ablation.md'), 'w') as file:
        file.write(table + '\n')
    print_log('\n' + table, logger='current')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
