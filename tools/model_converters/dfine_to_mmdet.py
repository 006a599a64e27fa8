"""Convert an official D-FINE or transformers checkpoint to dfine_mm.

Examples::

    # official release (train- or deploy-mode keys), variant detected
    python tools/model_converters/dfine_to_mmdet.py dfine_l_coco.pth \
        dfine-l_hgnetv2-b4_coco.pth
    # transformers (file or directory with model.safetensors)
    python tools/model_converters/dfine_to_mmdet.py dfine-small-coco/ \
        dfine-s.pth --variant s
    # ImageNet backbone for init_cfg=dict(type='Pretrained', checkpoint=...)
    python tools/model_converters/dfine_to_mmdet.py PPHGNetV2_B4_stage1.pth \
        hgnetv2_b4_stage1.pth

The output is an mmengine checkpoint ``{'state_dict': ..., 'meta': ...}``
that loads with strict key matching into the model of the variant's config
(after ``model.switch_to_deploy(fuse_backbone=False)`` for deploy-mode
sources, as the original's ``deploy()`` leaves the backbone unfused).
"""

import argparse
import os
import os.path as osp
import sys

import torch

import dfine_mm
from dfine_mm.converters.dfine import (
    VARIANT_CONFIGS,
    build_variant_model,
    check_against_model,
    convert_dfine_state_dict,
    detect_variant,
    is_deploy_form,
    read_source_state_dict,
)

COCO_NUM_CLASSES = 80


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official D-FINE / transformers D-FINE '
        'checkpoint (or an ImageNet HGNetV2 backbone) to dfine_mm.'
    )
    parser.add_argument('src', help='source checkpoint file or directory')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument(
        '--variant',
        choices=sorted(VARIANT_CONFIGS),
        help='D-FINE variant; detected from tensor shapes when omitted',
    )
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='skip building the variant model to check keys and shapes',
    )
    return parser.parse_args(argv)


def convert(args: argparse.Namespace) -> str:
    """Run the conversion; return the one-line summary."""
    source = read_source_state_dict(args.src)
    state_dict, source_format = convert_dfine_state_dict(source)
    meta = dict(
        dfine_mm_version=dfine_mm.__version__,
        source=osp.basename(osp.normpath(args.src)),
        source_format=source_format,
    )
    if source_format == 'hgnetv2_imagenet':
        summary = (
            f'HGNetV2 ImageNet backbone, {len(state_dict)} tensors converted '
            f'-> {args.dst} (use as backbone init_cfg Pretrained checkpoint)'
        )
    else:
        detected = detect_variant(state_dict)
        variant = args.variant or detected
        deploy = is_deploy_form(state_dict)
        num_classes = state_dict['bbox_head.enc_cls_branch.weight'].shape[0]
        if not args.no_check:
            model = build_variant_model(variant, num_classes)
            if deploy:
                model.switch_to_deploy(fuse_backbone=False)
            hint = (
                f' (its shapes are those of D-FINE-{detected.upper()}; use '
                f'--variant {detected})'
                if detected != variant
                else ''
            )
            check_against_model(
                state_dict, model, f'D-FINE-{variant.upper()}{hint}'
            )
        meta.update(
            variant=variant,
            config=VARIANT_CONFIGS[variant],
            deploy=deploy,
            num_classes=num_classes,
        )
        if num_classes == COCO_NUM_CLASSES:
            from mmdet.datasets import CocoDataset

            meta['dataset_meta'] = dict(CocoDataset.METAINFO)
        summary = (
            f'D-FINE-{variant.upper()}, {source_format} '
            f'({"deploy" if deploy else "train"}-mode keys), '
            f'{len(state_dict)} tensors converted -> {args.dst}'
        )
    out_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), args.dst)
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = convert(args)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == '__main__':
    sys.exit(main())
