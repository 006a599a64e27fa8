"""The ablation protocol: detectors, arms, budgets and run configs.

Used by ``fdr_ablation.py``; kept apart so that the protocol reads as data.
DINO and Deformable-DETR share the ``detr`` setting (HGNetV2-B0 from
scratch, strides 16-64, one encoder and three decoder layers, 60 queries,
12 epochs with a 10x LR drop after epoch 10); D-FINE-N keeps the
``make demo`` recipe (9 epochs, EMA). Every arm of a detector gets the same
data, budget and schedule; only the arm's config and the seed change.
"""

import copy
import json
import os.path as osp
from typing import Dict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARMS = ('plain', 'fdr', 'fdr_fgl', 'golsd')
#: D-FINE only: GO-LSD taken apart, to diagnose the golsd arm
DIAGNOSIS_ARMS = ('golsd_no_ddf', 'golsd_no_union')
#: D-FINE only: methods of projects/ on the same data and budget
PROJECT_ARMS = ('deim',)


def _cfg(*parts: str) -> str:
    return osp.join(ROOT, 'configs', *parts)


DINO_FDR = 'dino-fdr{}_4scale_r50_8xb2-12e_coco.py'
DEF_FDR = 'deformable-detr-fdr{}-refine-twostage_r50_16xb2-50e_coco.py'
DFINE_ARM = 'dfine-n{}_hgnetv2-b0_1xb16-9e_synthetic.py'
DETECTORS: Dict[str, Dict[str, str]] = dict(
    dino=dict(
        plain='mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
        fdr=_cfg('dino_fdr', DINO_FDR.format('')),
        fdr_fgl=_cfg('dino_fdr', DINO_FDR.format('-fgl')),
        golsd=_cfg('dino_fdr', DINO_FDR.format('-golsd')),
    ),
    deformable_detr=dict(
        plain='mmdet::deformable_detr/'
        'deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
        fdr=_cfg('deformable_detr_fdr', DEF_FDR.format('')),
        fdr_fgl=_cfg('deformable_detr_fdr', DEF_FDR.format('-fgl')),
        golsd=_cfg('deformable_detr_fdr', DEF_FDR.format('-golsd')),
    ),
    dfine=dict(
        plain=_cfg('dfine', 'ablation', DFINE_ARM.format('-plain')),
        fdr=_cfg('dfine', 'ablation', DFINE_ARM.format('-fdr')),
        fdr_fgl=_cfg('dfine', 'ablation', DFINE_ARM.format('-fdr-fgl')),
        golsd=_cfg('dfine', DFINE_ARM.format('')),
        golsd_no_ddf=_cfg(
            'dfine', 'ablation', DFINE_ARM.format('-golsd-no-ddf')
        ),
        golsd_no_union=_cfg(
            'dfine', 'ablation', DFINE_ARM.format('-golsd-no-union')
        ),
        deim=osp.join(
            ROOT, 'projects', 'DEIM', 'configs', 'deim-' + DFINE_ARM.format('')
        ),
    ),
)

#: The CPU protocol. ``data``: the demo data set; ``detr``: the setting of
#: DINO and Deformable-DETR; ``dfine``: overrides of the demo recipe (none).
PROTOCOL = dict(
    name='cpu-demo-256',
    data=dict(num_train=600, num_val=100, img_size=256, num_classes=5,
              max_objects=6, min_object_size=24, seed=0),
    detr=dict(backbone='HGNetV2-B0 from scratch, trainable BN',
              out_indices=[2, 3], embed_dims=256, encoder_layers=1,
              decoder_layers=3, ffn=512, queries=60, dn_queries=30,
              batch_size=16, epochs=12, lr=1e-3, weight_decay=1e-4,
              clip_grad=0.1, warmup_iters=50, lr_drop_epoch=10),
    dfine=dict(batch_size=16, epochs=9),
)  # fmt: skip
SMOKE = dict(
    name='smoke',
    checkpoint=False,
    data=dict(num_train=8, num_val=4, img_size=128, num_classes=5,
              max_objects=3, min_object_size=16, seed=0),
    detr=dict(PROTOCOL['detr'], batch_size=4, epochs=1, encoder_layers=1,
              ffn=64, lr_drop_epoch=1),
    dfine=dict(batch_size=4, epochs=1),
)  # fmt: skip

DATA_CONFIG = """
data_root = {data_root!r}
metainfo = dict(classes={classes!r})
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
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    batch_sampler=None, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'),
                 filter_cfg=dict(filter_empty_gt=False),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={epochs}, val_begin={epochs} + 1)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint={checkpoint})
auto_scale_lr = dict(enable=False)
"""
# an arm that wraps its data set (DEIM's mosaic): the protocol's data
# inside, the arm's phase pipelines (read by its hooks) at the protocol's size
WRAPPED_TRAIN = """
train_dataloader = dict(train_dataloader, dataset=dict(
    _delete_=True, type='MultiImageMixDataset',
    dataset=dict(train_dataloader['dataset'], type={inner!r},
                 pipeline=train_pipeline[:2]),
    pipeline={pipelines[train_pipeline]!r}))
"""
DETR_CONFIG = """
ffn = dict(feedforward_channels={ffn})
model = dict(
    num_queries={queries},
    num_feature_levels=3,
    backbone=dict(_delete_=True, type='HGNetV2', arch='B0', use_lab=True,
                  out_indices={out_indices}, init_cfg=None),
    neck=dict(in_channels={neck_channels}, num_outs=3),
    encoder=dict(num_layers={encoder_layers}, layer_cfg=dict(
        self_attn_cfg=dict(num_levels=3), ffn_cfg=ffn)),
    decoder=dict(num_layers={decoder_layers}, layer_cfg=dict(
        cross_attn_cfg=dict(num_levels=3), ffn_cfg=ffn)),
    bbox_head=dict(num_classes={num_classes}),
    test_cfg=dict(max_per_img={queries}),
)
optim_wrapper = dict(
    optimizer=dict(lr={lr}, weight_decay={weight_decay}),
    clip_grad=dict(max_norm={clip_grad}, norm_type=2),
    # from scratch: the backbone at the full LR (mmdet's configs: 0.1x)
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=1.0))))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end={warmup_iters}),
    dict(type='MultiStepLR', milestones=[{lr_drop_epoch}], gamma=0.1,
         by_epoch=True, begin=0, end={epochs}),
]
custom_hooks = [dict(type='DFineInvalidLossHook')]
"""
DINO_DN = """
model.update(dn_cfg=dict(group_cfg=dict(num_dn_queries={dn_queries})))
"""


def load_arm_config(detector: str, arm: str):
    """The arm's config (mmdet's own through its ``mmdet::`` scope)."""
    from mmengine.config import Config
    from mmengine.hub import get_config

    path = DETECTORS[detector][arm]
    return get_config(path) if '::' in path else Config.fromfile(path)


def make_protocol(args) -> dict:
    """The protocol of this invocation (the CPU one, smoke, or overridden);
    what the JSON records and what a run's result is checked against."""
    protocol = copy.deepcopy(SMOKE if args.smoke else PROTOCOL)
    if args.img_size:
        protocol['data']['img_size'] = args.img_size
    if args.epochs:
        protocol['detr']['epochs'] = protocol['dfine']['epochs'] = args.epochs
    if args.protocol_name:
        protocol['name'] = args.protocol_name
    elif args.img_size or args.epochs:
        protocol['name'] += f'-e{args.epochs}-s{args.img_size}'
    protocol['device'] = args.device
    # the whole study of this protocol (it skips finished runs)
    command = ['python', 'tools/analysis_tools/fdr_ablation.py']
    for flag, value in (
        ('--smoke', args.smoke),
        ('--epochs', args.epochs),
        ('--img-size', args.img_size),
        ('--protocol-name', args.protocol_name),
    ):
        if value:
            command += [flag] if value is True else [flag, str(value)]
    command += ['--device', args.device, '--seeds', *map(str, args.seeds)]
    command += ['--jobs', str(args.jobs), '--threads', str(args.threads)]
    protocol['command'] = ' '.join(command)
    protocol['configs'] = {
        det: {arm: osp.relpath(path, ROOT) if osp.isabs(path) else path
              for arm, path in arms.items()}
        for det, arms in DETECTORS.items()
    }  # fmt: skip
    return protocol


def make_data(work_dir: str, spec: dict) -> str:
    """The synthetic data set (reused when its spec matches); its root."""
    from dfine_mm.datasets.synthetic import generate_synthetic_coco

    root = osp.join(work_dir, 'data')
    stamp = osp.join(root, 'ablation_data.json')
    if osp.isfile(stamp):
        with open(stamp) as file:
            if json.load(file) == spec:
                return root
    generate_synthetic_coco(root, overwrite=True, **spec)
    with open(stamp, 'w') as file:
        json.dump(spec, file)
    return root


def _wrapped_train(arm_cfg, size: int) -> str:
    """The run config's lines for an arm with a mix data set: its training
    pipelines (``train_pipeline*``) resized to ``size`` (mosaic cells of
    half of it, as DEIM's 320 for 640), the protocol's data inside."""

    def resized(node):
        if isinstance(node, dict):
            node = {k: resized(v) for k, v in node.items()}
            if node.get('type') == 'Resize':
                node['scale'] = (size, size)
            if node.get('type') == 'DEIMMosaic':
                node['output_size'] = size // 2
            return node
        if isinstance(node, (list, tuple)):
            return type(node)(resized(v) for v in node)
        return node

    plain = arm_cfg.to_dict()
    pipelines = {
        k: resized(v) for k, v in plain.items() if k.startswith('train_pipe')
    }
    text = WRAPPED_TRAIN.format(
        inner=plain['train_dataloader']['dataset']['dataset']['type'],
        pipelines=pipelines,
    )
    return text + ''.join(f'{k} = {v!r}\n' for k, v in pipelines.items())


def write_run_config(
    protocol: dict, detector: str, arm: str, seed: int, data_root: str,
    path: str,
) -> str:  # fmt: skip
    """The config of one run: the arm's config plus the protocol."""
    from dfine_mm.datasets.synthetic import synthetic_classes

    data = protocol['data']
    budget = protocol['dfine' if detector == 'dfine' else 'detr']
    arm_cfg = load_arm_config(detector, arm)
    imports = ['dfine_mm'] + [
        name for name in arm_cfg.get('custom_imports', {}).get('imports', [])
        if name != 'dfine_mm'
    ]  # fmt: skip
    text = f'_base_ = {DETECTORS[detector][arm]!r}\n'
    text += f'custom_imports = dict(imports={imports!r}, '
    text += 'allow_failed_imports=False)\n'
    text += f'randomness = dict(seed={seed})\n'
    text += DATA_CONFIG.format(
        data_root=osp.abspath(data_root) + '/', size=data['img_size'],
        classes=tuple(synthetic_classes(data['num_classes'])),
        batch_size=budget['batch_size'], epochs=budget['epochs'],
        checkpoint=dict(interval=budget['epochs'], max_keep_ckpts=1)
        if protocol.get('checkpoint', True) else None,
    )  # fmt: skip
    if arm_cfg.train_dataloader.dataset.type == 'MultiImageMixDataset':
        text += _wrapped_train(arm_cfg, data['img_size'])
    if detector == 'dfine':
        text += f'model = dict(bbox_head=dict(num_classes={data["num_classes"]}))\n'  # noqa: E501
    else:
        widths = [128, 256, 512, 1024]  # HGNetV2-B0 stage channels
        text += DETR_CONFIG.format(
            neck_channels=[widths[i] for i in budget['out_indices']],
            num_classes=data['num_classes'], **budget,
        )  # fmt: skip
        if detector == 'dino':
            text += DINO_DN.format(dn_queries=budget['dn_queries'])
    with open(path, 'w') as file:
        file.write(text)
    return path
