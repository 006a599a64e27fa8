"""Generate the synthetic shapes detection data set in COCO format.

Example::

    python tools/misc/make_synthetic_coco.py --out data/synthetic \
        --num-train 800 --num-val 100 --img-size 320 --num-classes 5 --seed 0
"""

import argparse
import time

from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from dfine_mm.datasets.synthetic import (
    SHAPE_CLASSES,
    check_synthetic_args,
    generate_synthetic_coco,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the dfine_mm synthetic shapes data set '
        '(COCO format): OUT/train/*.jpg, OUT/val/*.jpg and '
        'OUT/annotations/instances_{train,val}.json.'
    )
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--num-train', type=int, default=800)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument(
        '--img-size', type=int, default=320, help='image side (>= 32)'
    )
    parser.add_argument(
        '--num-classes',
        type=int,
        default=5,
        help=f'number of shape classes, 1 to {len(SHAPE_CLASSES)} '
        f'({", ".join(SHAPE_CLASSES)})',
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--max-objects', type=int, default=15, help='most shapes per image'
    )
    parser.add_argument(
        '--min-object-size',
        type=int,
        default=8,
        help='smallest longer side of a shape, in pixels',
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace train/, val/ and annotations/ in a non-empty --out',
    )
    args = parser.parse_args(argv)
    try:
        check_synthetic_args(
            args.out,
            args.num_train,
            args.num_val,
            args.img_size,
            args.num_classes,
            args.overwrite,
            args.max_objects,
            args.min_object_size,
        )
    except ValueError as e:
        # argument names as the user typed them
        message = str(e)
        for name in ('num_train', 'num_val', 'img_size', 'num_classes',
                     'max_objects', 'min_object_size'):  # fmt: skip
            message = message.replace(name, '--' + name.replace('_', '-'))
        parser.error(message)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    bar = ProgressBar(args.num_train + args.num_val)
    ann_files = generate_synthetic_coco(
        args.out,
        args.num_train,
        args.num_val,
        img_size=args.img_size,
        num_classes=args.num_classes,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=bar.update,
        max_objects=args.max_objects,
        min_object_size=args.min_object_size,
    )
    print_log(
        f'\nwrote {args.num_train} train and {args.num_val} val images '
        f'({args.img_size}x{args.img_size}, {args.num_classes} classes, '
        f'seed {args.seed}) to {args.out} in '
        f'{time.perf_counter() - start:.1f} s; annotations: '
        f'{", ".join(ann_files.values())}',
        logger='current',
    )


if __name__ == '__main__':
    main()
