"""Check a COCO-format data set before a long run: every image decodes,
every annotation is usable."""

import json
import math
import os.path as osp
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

#: problem kind -> what it means (the report's rows, in this order)
PROBLEMS = {
    'missing image': 'the file does not exist',
    'unreadable image': 'the file does not decode (truncated or corrupt)',
    'size mismatch': 'decoded size differs from the annotation file',
    'unknown category': "category not among the config's classes",
    'NaN / inf box': 'a box coordinate is not finite',
    'degenerate box': 'width or height <= 0',
    'box outside image': 'no part of the box is inside the image',
    'box partly outside': 'the box crosses the image border (clipped)',
}
#: kinds that make the data set unusable as it is (non-zero exit)
ERRORS = (
    'missing image',
    'unreadable image',
    'unknown category',
    'NaN / inf box',
    'degenerate box',
    'box outside image',
)


@dataclass
class DatasetReport:
    """What :func:`check_coco_dataset` found.

    Attributes:
        images (int): Images listed in the annotation file.
        annotations (int): Annotations listed.
        empty_images (int): Images without any annotation.
        crowd (int): Crowd annotations (ignored in training).
        problems (dict[str, list[str]]): Kind -> the files (image paths, or
            ``path: annotation id`` for box problems), in file order.
    """

    images: int = 0
    annotations: int = 0
    empty_images: int = 0
    crowd: int = 0
    problems: Dict[str, List[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No problem of an error kind."""
        return not any(self.problems.get(kind) for kind in ERRORS)

    def first_problems(self, shown: int = 5) -> str:
        """One line per error kind found, naming its first ``shown``
        files; empty when there is none."""
        lines = []
        for kind in ERRORS:
            found = self.problems.get(kind, [])
            if found:
                more = len(found) - shown
                tail = f' and {more} more' if more > 0 else ''
                lines.append(f'{kind}: {", ".join(found[:shown])}{tail}')
        return '\n'.join(lines)

    def table(self) -> str:
        """A summary table (kind, count, first file)."""
        rows = [
            ('images', str(self.images), ''),
            ('annotations', str(self.annotations), ''),
            ('images without boxes', str(self.empty_images), ''),
            ('crowd annotations', str(self.crowd), ''),
        ]
        for kind in PROBLEMS:
            found = self.problems.get(kind, [])
            level = 'error' if kind in ERRORS else 'warning'
            first = found[0] if found else ''
            rows.append((f'{kind} ({level})', str(len(found)), first))
        width = max(len(r[0]) for r in rows)
        lines = [f'{"check":<{width}}  count  first']
        lines += [f'{a:<{width}}  {b:>5}  {c}' for a, b, c in rows]
        return '\n'.join(lines)


def _decode(path: str) -> Tuple[str, Optional[Tuple[int, int]]]:
    """(problem kind or '', (width, height) when it decodes)."""
    from PIL import Image

    if not osp.isfile(path):
        return 'missing image', None
    try:
        with Image.open(path) as image:
            image.load()  # decodes every byte: truncated files fail here
            return '', image.size
    except (OSError, SyntaxError, ValueError):
        return 'unreadable image', None


def check_coco_dataset(
    ann_file: str,
    img_dir: str,
    classes: Optional[Sequence[str]] = None,
    workers: int = 1,
) -> DatasetReport:
    """Decode every image and check every annotation of a COCO file.

    Args:
        ann_file (str): The COCO annotation JSON.
        img_dir (str): Folder the images' ``file_name`` are relative to.
        classes (Sequence[str], optional): The config's class names; an
            annotation whose category name is not among them is an
            unknown category. None accepts the file's categories.
        workers (int): Processes decoding images. Defaults to 1.

    Returns:
        DatasetReport: Counts and the files with each kind of problem.
    """
    with open(ann_file) as file:
        coco = json.load(file)
    names = {c['id']: c['name'] for c in coco.get('categories', [])}
    known = set(classes) if classes is not None else set(names.values())
    report = DatasetReport(images=len(coco['images']))
    problems: Dict[str, List[str]] = {kind: [] for kind in PROBLEMS}
    images = {img['id']: img for img in coco['images']}
    paths = [osp.join(img_dir, img['file_name']) for img in coco['images']]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            decoded = list(pool.map(_decode, paths, chunksize=32))
    else:
        decoded = [_decode(path) for path in paths]
    for img, path, (kind, size) in zip(coco['images'], paths, decoded):
        if kind:
            problems[kind].append(path)
        elif size != (img.get('width'), img.get('height')):
            problems['size mismatch'].append(path)
    boxes_per_image: Counter = Counter()
    anns = coco.get('annotations', [])
    report.annotations = len(anns)
    for ann in anns:
        img = images.get(ann['image_id'], {})
        where = f'{img.get("file_name", ann["image_id"])}: annotation '
        where += str(ann.get('id'))
        boxes_per_image[ann['image_id']] += 1
        if ann.get('iscrowd'):
            report.crowd += 1
        if names.get(ann['category_id']) not in known:
            problems['unknown category'].append(where)
        box = [float(v) for v in ann.get('bbox', [math.nan] * 4)]
        if not all(math.isfinite(v) for v in box):
            problems['NaN / inf box'].append(where)
            continue
        x, y, w, h = box
        if w <= 0 or h <= 0:
            problems['degenerate box'].append(where)
            continue
        width, height = img.get('width', math.inf), img.get('height', math.inf)
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            problems['box outside image'].append(where)
        elif x < 0 or y < 0 or x + w > width or y + h > height:
            problems['box partly outside'].append(where)
    report.empty_images = sum(1 for i in images if not boxes_per_image[i])
    report.problems = {k: v for k, v in problems.items() if v}
    return report


def innermost_dataset(cfg, split: str) -> Tuple[dict, str]:
    """The data set config of a split's dataloader, inside its wrappers
    (RepeatDataset, ClassBalancedDataset, MultiImageMixDataset ...), and
    its key (``train_dataloader.dataset.dataset`` for a wrapped one).

    Raises:
        ValueError: The config has no ``{split}_dataloader``.
    """
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'the config has no {split}_dataloader')
    dataset, key = loader['dataset'], f'{split}_dataloader.dataset'
    while 'dataset' in dataset:
        dataset, key = dataset['dataset'], key + '.dataset'
    return dataset, key


def dataset_files(cfg, split: str) -> Tuple[str, str, Optional[list]]:
    """(annotation file, image folder, classes or None) of a config's split.

    Args:
        cfg (Config): An mmdet config.
        split (str): ``train``, ``val`` or ``test``.

    Raises:
        ValueError: No such dataloader, or a data set without ``ann_file``.
    """
    dataset, _ = innermost_dataset(cfg, split)
    if 'ann_file' not in dataset:
        raise ValueError(
            f'{split}_dataloader.dataset ({dataset.get("type")}) has no '
            'ann_file: only COCO-format data sets can be checked'
        )
    root = dataset.get('data_root') or ''
    prefix = (dataset.get('data_prefix') or {}).get('img', '')
    classes = (dataset.get('metainfo') or {}).get('classes')
    return (
        osp.join(root, dataset['ann_file']),
        osp.join(root, prefix),
        list(classes) if classes is not None else None,
    )


def _is_remote(path: str) -> bool:
    """A ``scheme://`` path (a file backend such as s3 or petrel)."""
    return '://' in path


def check_data_paths(cfg, splits: Sequence[str]) -> None:
    """Fail early when a split's annotation file or image folder is not
    there.

    mmdet finds a missing annotation file only when it builds the data set,
    after the model and the runner, with a bare ``FileNotFoundError``; a
    missing image folder only when the first batch loads. Data sets
    without an ``ann_file`` and remote (``scheme://``) paths are not
    checked.

    Args:
        cfg (Config): An mmdet config.
        splits (Sequence[str]): ``train``, ``val``, ``test``; splits the
            config has no dataloader for are skipped.

    Raises:
        FileNotFoundError: Naming the split, the missing path, the
            config's ``data_root`` and how to point the config elsewhere.
    """
    for split in splits:
        if not cfg.get(f'{split}_dataloader'):
            continue
        try:
            ann_file, img_dir, _ = dataset_files(cfg, split)
        except ValueError:  # not a COCO-format data set
            continue
        evaluators = cfg.get(f'{split}_evaluator') or []
        if not isinstance(evaluators, list):
            evaluators = [evaluators]
        paths = [('annotation file', ann_file), ('image folder', img_dir)]
        paths += [
            (f'{split}_evaluator.ann_file', metric['ann_file'])
            for metric in evaluators
            if metric.get('ann_file')
        ]
        for what, path in paths:
            if _is_remote(path) or osp.exists(path):
                continue
            dataset, key = innermost_dataset(cfg, split)
            also = f' and {split}_evaluator.ann_file=...' if evaluators else ''
            raise FileNotFoundError(
                f'{split} data: the {what} {path} does not exist '
                f'(data_root={dataset.get("data_root")!r}). Point the '
                f'config at the data, e.g. --cfg-options {key}.data_root=DIR/'
                f'{also}; '
                'synthetic sets: tools/misc/make_synthetic_coco.py --out '
                'DIR (make demo writes data/demo).'
            )
