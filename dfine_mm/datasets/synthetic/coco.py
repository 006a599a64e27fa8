"""Write the synthetic shapes data set in COCO format.

Layout under ``out_dir``::

    train/000001.jpg ...
    val/000001.jpg ...
    annotations/instances_train.json
    annotations/instances_val.json

Every image is drawn from its own random stream, seeded by
``(seed, split, index)``, so the same arguments give byte-identical files
and an image does not change when the number of images does.
"""

import json
import os
import os.path as osp
import shutil
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

from .render import MAX_OBJECTS, MIN_SIZE, render_image
from .shapes import SHAPE_CLASSES

SPLITS = ('train', 'val')
MIN_IMG_SIZE = 32
EMPTY_PERIOD = 13  # one image in 13 has no objects
JPEG_QUALITY = 92
_PALETTE = (
    (220, 20, 60), (0, 130, 200), (60, 180, 75), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (128, 128, 0),
)  # fmt: skip


def synthetic_classes(num_classes: int) -> tuple:
    """The class names of a synthetic data set with ``num_classes`` classes.

    Args:
        num_classes (int): Number of classes (1 to ``len(SHAPE_CLASSES)``).

    Returns:
        tuple[str]: The first ``num_classes`` entries of ``SHAPE_CLASSES``.
    """
    if not 1 <= num_classes <= len(SHAPE_CLASSES):
        raise ValueError(
            f'num_classes must be between 1 and {len(SHAPE_CLASSES)} (the '
            f'shapes available: {", ".join(SHAPE_CLASSES)}), got {num_classes}'
        )
    return SHAPE_CLASSES[:num_classes]


def synthetic_metainfo(num_classes: int) -> dict:
    """``metainfo`` for mmdet's ``CocoDataset`` on the synthetic data set.

    Args:
        num_classes (int): Number of classes the data set was made with.

    Returns:
        dict: ``dict(classes=..., palette=...)``.
    """
    classes = synthetic_classes(num_classes)
    return dict(classes=classes, palette=list(_PALETTE[: len(classes)]))


def check_synthetic_args(
    out_dir: str,
    num_train: int,
    num_val: int,
    img_size: int,
    num_classes: int,
    overwrite: bool = False,
    max_objects: int = MAX_OBJECTS,
    min_object_size: int = MIN_SIZE,
) -> None:
    """Validate the arguments of :func:`generate_synthetic_coco`.

    Raises:
        ValueError: With a message that names the bad argument and the fix.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if value < 0:
            raise ValueError(f'{name} must be 0 or more, got {value}')
    if img_size < MIN_IMG_SIZE:
        raise ValueError(
            f'img_size must be at least {MIN_IMG_SIZE} pixels, got {img_size}'
        )
    synthetic_classes(num_classes)
    if not 1 <= max_objects <= MAX_OBJECTS:
        raise ValueError(
            f'max_objects must be in [1, {MAX_OBJECTS}], got {max_objects}'
        )
    if not MIN_SIZE <= min_object_size <= img_size // 2:
        raise ValueError(
            f'min_object_size must be in [{MIN_SIZE}, img_size // 2 = '
            f'{img_size // 2}] pixels, got {min_object_size}'
        )
    if osp.isfile(out_dir):
        raise ValueError(f'{out_dir} is a file; give a directory')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise ValueError(
            f'{out_dir} exists and is not empty; pass --overwrite '
            '(overwrite=True) to replace its train/, val/ and annotations/, '
            'or choose another directory'
        )


def _num_objects(
    rng: np.random.Generator, index: int, max_objects: int = MAX_OBJECTS
) -> int:
    """Objects to draw in image ``index`` (1-based): 1 to ``max_objects``,
    but none in every ``EMPTY_PERIOD``-th image from the second on (2, 15,
    28, ...)."""
    count = int(rng.integers(1, max_objects + 1))
    return 0 if index % EMPTY_PERIOD == 2 else count


def _write_split(
    out_dir: str,
    split: str,
    num_images: int,
    img_size: int,
    classes: Sequence[str],
    seed: int,
    progress: Optional[Callable[[], None]],
    max_objects: int = MAX_OBJECTS,
    min_object_size: int = MIN_SIZE,
) -> dict:
    split_id = SPLITS.index(split) + 1
    img_dir = osp.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    images: List[dict] = []
    annotations: List[dict] = []
    class_ids = list(range(len(classes)))
    for index in range(num_images):
        rng = np.random.default_rng([seed, split_id, index + 1])
        num_objects = _num_objects(rng, index + 1, max_objects)
        image, objects = render_image(
            rng, img_size, num_objects, class_ids, min_object_size
        )
        file_name = f'{index + 1:06d}.jpg'
        ok, data = cv2.imencode(
            '.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise RuntimeError(f'cv2 could not encode {file_name} as JPEG')
        with open(osp.join(img_dir, file_name), 'wb') as f:
            f.write(data.tobytes())
        image_id = index + 1
        images.append(
            dict(
                id=image_id,
                file_name=file_name,
                width=img_size,
                height=img_size,
            )
        )
        for obj in objects:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=obj.label + 1,
                    bbox=list(obj.bbox),
                    area=obj.area,
                    iscrowd=0,
                )
            )
        if progress is not None:
            progress()
    return dict(
        info=dict(
            description='dfine_mm synthetic shapes',
            version='1.0',
            seed=seed,
            split=split,
        ),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(classes)
        ],
    )


def generate_synthetic_coco(
    out_dir: str,
    num_train: int,
    num_val: int,
    img_size: int = 320,
    num_classes: int = 5,
    seed: int = 0,
    overwrite: bool = False,
    progress: Optional[Callable[[], None]] = None,
    max_objects: int = MAX_OBJECTS,
    min_object_size: int = MIN_SIZE,
) -> Dict[str, str]:
    """Generate the synthetic shapes data set.

    Args:
        out_dir (str): Output directory; created if missing.
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (int): Height and width of every image. At least 32.
            Defaults to 320.
        num_classes (int): Number of shape classes, at most
            ``len(SHAPE_CLASSES)``. Defaults to 5.
        seed (int): Random seed. Defaults to 0.
        overwrite (bool): Replace ``train/``, ``val/`` and ``annotations/``
            in a non-empty ``out_dir``; nothing else there is touched.
            Defaults to False.
        progress (callable, optional): Called once per written image.
        max_objects (int): Most shapes per image (1 to 15). Defaults to 15.
        min_object_size (int): Smallest longer side of a shape in pixels
            (8 to img_size // 2); sizes are log-uniform up to half the
            image. Defaults to 8.

    Returns:
        dict: Paths of the annotation files, keyed by split.

    Raises:
        ValueError: For bad arguments, before anything is written.
    """
    check_synthetic_args(
        out_dir, num_train, num_val, img_size, num_classes, overwrite,
        max_objects, min_object_size,
    )  # fmt: skip
    for sub in (*SPLITS, 'annotations'):
        shutil.rmtree(osp.join(out_dir, sub), ignore_errors=True)
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    classes = synthetic_classes(num_classes)
    ann_files = {}
    for split, num_images in zip(SPLITS, (num_train, num_val)):
        coco = _write_split(
            out_dir, split, num_images, img_size, classes, seed, progress,
            max_objects, min_object_size,
        )  # fmt: skip
        ann_files[split] = osp.join(ann_dir, f'instances_{split}.json')
        with open(ann_files[split], 'w') as f:
            json.dump(coco, f, separators=(',', ':'))
    return ann_files
