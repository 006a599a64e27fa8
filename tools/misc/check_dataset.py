"""Check the data set of a config before a long run.

Example::

    python tools/misc/check_dataset.py configs/dfine/custom/CONFIG.py \\
        --split train --workers 2

Decodes every image of the split's COCO annotation file and checks every
annotation (unknown categories, NaN / degenerate boxes, boxes outside the
image, size mismatches; crowd and empty images counted), prints a summary
table and exits non-zero naming the first bad files. ``tools/train.py
--check-data`` runs it on the training split first.
"""

import argparse
import sys
import time

from mmengine.config import Config

from dfine_mm.datasets.check import (
    DatasetReport,
    check_coco_dataset,
    dataset_files,
)

SHOWN = 5  # files named per kind of problem


def check_config(config: str, split: str, workers: int) -> DatasetReport:
    """Check ``split`` of the config's data; print the report."""
    ann_file, img_dir, classes = dataset_files(Config.fromfile(config), split)
    start = time.time()
    report = check_coco_dataset(ann_file, img_dir, classes, workers)
    print(f'{ann_file} ({img_dir}): {report.images} images checked in '
          f'{time.time() - start:.1f} s')  # fmt: skip
    print(report.table())
    problems = report.first_problems(SHOWN)
    if problems:
        print(problems, file=sys.stderr)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--split', default='train',
                        choices=('train', 'val', 'test'))  # fmt: skip
    parser.add_argument('--workers', type=int, default=1,
                        help='processes decoding images')  # fmt: skip
    args = parser.parse_args(argv)
    report = check_config(args.config, args.split, args.workers)
    return 0 if report.ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
