"""The COCO training pipeline of the D-FINE configs, executed end to end on
images with drawn shapes: DFineLoadImageFromFile, LoadAnnotations,
DFinePhotometricDistort, Expand, MinIoURandomCrop, DFineSanitizeBoxes,
RandomFlip, Resize and PackDetInputs, then the batch multi-scale resize of
the data preprocessor; and the same data set after the mode-switch hook
moved it to stage 2.

The shapes (rectangles, octagons, crosses: no thin tips, which the resize
would blur below half) are white on black and at least 16 px apart and
from the image border. Every colour step of the photometric distortion
maps achromatic colours to achromatic colours with white above black, so
after the whole
pipeline a shape is where the image is brighter than halfway between its
white and its background: each remaining box must enclose exactly that
region, within 1 px."""

import json
import random

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT
from mmengine.config import Config
from mmengine.logging import MessageHub

S_CONFIG = f'{REPO_ROOT}/configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py'
SIZE, GAP = 256, 16


def _draw(rng: np.random.Generator, count: int):
    """A black image with ``count`` white shapes and their tight boxes."""
    image = np.zeros((SIZE, SIZE), np.uint8)
    taken = np.zeros((SIZE, SIZE), bool)
    boxes = []
    while len(boxes) < count:
        w, h = rng.integers(12, 70, 2)
        x, y = rng.integers(GAP, SIZE - GAP - 70, 2)
        shape = np.zeros_like(image)
        kind = len(boxes) % 3
        if kind == 0:
            cv2.rectangle(shape, (x, y), (x + w - 1, y + h - 1), 255, -1)
        elif kind == 1:  # octagon
            a, b = w // 3, h // 3
            points = np.array([
                [x + a, y], [x + w - 1 - a, y], [x + w - 1, y + b],
                [x + w - 1, y + h - 1 - b], [x + w - 1 - a, y + h - 1],
                [x + a, y + h - 1], [x, y + h - 1 - b], [x, y + b],
            ], np.int32)  # fmt: skip
            cv2.fillPoly(shape, [points], 255)
        else:  # cross
            a, b = w // 3, h // 3
            cv2.rectangle(shape, (x + a, y), (x + w - 1 - a, y + h - 1),
                          255, -1)  # fmt: skip
            cv2.rectangle(shape, (x, y + b), (x + w - 1, y + h - 1 - b),
                          255, -1)  # fmt: skip
        mask = shape > 0
        near = cv2.dilate(mask.astype(np.uint8), np.ones((2 * GAP, 2 * GAP)))
        if (near.astype(bool) & taken).any():
            continue
        taken |= mask
        image |= shape
        ys, xs = np.nonzero(mask)
        boxes.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                      int(ys.max()) + 1])  # fmt: skip
    return np.repeat(image[..., None], 3, 2), boxes


@pytest.fixture(scope='module')
def shapes_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes_coco')
    (root / 'img').mkdir()
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for index in range(16):
        image, boxes = _draw(rng, 3 + index % 3)
        name = f'{index:03d}.png'
        cv2.imwrite(str(root / 'img' / name), image)
        images.append(dict(id=index + 1, file_name=name, width=SIZE,
                           height=SIZE))  # fmt: skip
        for x1, y1, x2, y2 in boxes:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=index + 1, category_id=1,
                bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                iscrowd=0))  # fmt: skip
    with open(root / 'ann.json', 'w') as file:
        categories = [dict(id=1, name='shape')]
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories), file)  # fmt: skip
    return str(root)


def _dataset(cfg, root):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules

    register_all_modules()
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(
        data_root=root + '/', ann_file='ann.json',
        data_prefix=dict(img='img/'), metainfo=dict(classes=('shape',)),
    )  # fmt: skip
    return DATASETS.build(dataset_cfg)


def _shape_extent(gray: np.ndarray, box) -> tuple:
    """The pixels brighter than halfway between the shape's white and its
    background, near ``box``: their extent (x1, y1, x2, y2)."""
    height, width = gray.shape
    x1, y1, x2, y2 = box
    top, left = max(int(y1) - 4, 0), max(int(x1) - 4, 0)
    window = gray[top:min(int(np.ceil(y2)) + 4, height),
                  left:min(int(np.ceil(x2)) + 4, width)]  # fmt: skip
    white = window.max()
    background = np.median(window[window < white - 100])
    ys, xs = np.nonzero(window > (white + background) / 2)
    return (left + xs.min(), top + ys.min(), left + xs.max() + 1,
            top + ys.max() + 1)  # fmt: skip


def test_every_box_encloses_its_shape_after_the_whole_pipeline(shapes_coco):
    cfg = Config.fromfile(S_CONFIG)
    dataset = _dataset(cfg, shapes_coco)
    steps = [type(t).__name__ for t in dataset.pipeline.transforms]
    assert steps[:5] == [
        'DFineLoadImageFromFile',
        'LoadAnnotations',
        'DFinePhotometricDistort',
        'Expand',
        'RandomApply',
    ]
    checked, expanded = 0, 0
    for seed in range(24):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        out = dataset[seed % len(dataset)]
        image = out['inputs'].numpy()  # (3, 640, 640) uint8
        assert image.shape == (3, 640, 640)
        gray = image.astype(np.float64).mean(0)
        # achromatic in, achromatic out: the colour steps keep grey grey
        assert np.abs(image.astype(int) - gray[None]).max() <= 1
        boxes = out['data_samples'].gt_instances.bboxes.tensor.numpy()
        assert ((boxes >= 0) & (boxes <= 640)).all()
        expanded += int((gray == 0).any())
        for box in boxes:
            extent = _shape_extent(gray, box)
            assert np.abs(np.array(extent) - box).max() <= 1.0, (
                seed, box.tolist(), extent)  # fmt: skip
            checked += 1
    assert checked >= 50
    assert expanded > 0  # zoom-out ran (its fill is pure black)


def test_multi_scale_sizes_then_stage_two_through_the_hook(shapes_coco):
    from mmdet.registry import HOOKS, MODELS
    from mmengine.dataset import pseudo_collate

    cfg = Config.fromfile(S_CONFIG)
    dataset = _dataset(cfg, shapes_coco)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    (resize,) = preprocessor.batch_augments
    hook = HOOKS.build(
        next(h for h in cfg.custom_hooks if h.type == 'DFineModeSwitchHook')
    )

    class Loader:
        persistent_workers = False

    loader = Loader()
    loader.dataset = dataset

    class Runner:
        pass

    runner = Runner()
    runner.cfg, runner.epoch, runner.train_dataloader = cfg, 0, loader
    runner.model = torch.nn.Module()
    runner.model.data_preprocessor = preprocessor
    runner.logger = type('L', (), {'info': staticmethod(lambda *a: None)})
    hook.before_train(runner)
    assert resize.stop_epoch == cfg.stop_epoch == 120

    hub = MessageHub.get_current_instance()
    before = hub.get_info('epoch')
    try:
        sides = set()
        for epoch in (0, 119):
            hub.update_info('epoch', epoch)
            runner.epoch = epoch
            hook.before_train_epoch(runner)
            for start in range(0, 16, 4):
                random.seed(start)
                batch = pseudo_collate(
                    [dataset[i] for i in range(start, start + 4)]
                )
                inputs = preprocessor(batch, training=True)['inputs']
                assert inputs.shape[-1] == inputs.shape[-2]
                sides.add(inputs.shape[-1])
        assert sides <= set(resize.scales) and len(sides) > 1, sides
        hub.update_info('epoch', 120)
        runner.epoch = 120
        hook.before_train_epoch(runner)
        steps = [type(t).__name__ for t in dataset.pipeline.transforms]
        assert steps == [t.type for t in cfg.train_pipeline_stage2]
        assert not {'DFinePhotometricDistort', 'Expand', 'RandomApply',
                    'MinIoURandomCrop'} & set(steps)  # fmt: skip
        batch = pseudo_collate([dataset[i] for i in range(4)])
        inputs = preprocessor(batch, training=True)['inputs']
        assert inputs.shape[-2:] == (640, 640)  # multi-scale off
        # stage 2 keeps every box (flip and resize only)
        assert len(batch['data_samples'][0].gt_instances) == len(
            dataset.get_data_info(0)['instances']
        )
    finally:
        hub.update_info('epoch', before if before is not None else 0)
