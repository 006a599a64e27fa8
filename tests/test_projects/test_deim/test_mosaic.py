"""DEIMMosaic: every box still encloses its drawn pixels after the mosaic
and the warp (resizing blends edge pixels with the black background, so an
object's pixels are those whose colour ratio is its own, at least half
covered); the skip wrapper; bad input."""

import random

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.utils import register_all_modules

from projects.DEIM.deim import DEIMMosaic, DEIMSkipAfterMosaic


def drawn_image(seed, sizes, first_colour):
    """An image of size ``sizes`` (h, w) with 3 filled rectangles, each in
    its own colour and its own third of the width (no overlap), and their
    boxes."""
    rng = np.random.default_rng(seed)
    h, w = sizes
    img = np.zeros((h, w, 3), np.uint8)
    boxes, colours = [], []
    for index in range(3):
        strip = w // 3
        bw, bh = rng.integers(strip // 4, strip), rng.integers(h // 8, h // 3)
        x1 = index * strip + rng.integers(0, strip - bw + 1)
        y1 = rng.integers(0, h - bh)
        colour = first_colour + 7 * index
        img[y1 : y1 + bh, x1 : x1 + bw] = (colour, 255 - colour, 128)
        boxes.append([x1, y1, x1 + bw, y1 + bh])
        colours.append(colour)
    return dict(
        img=img,
        img_shape=(h, w),
        gt_bboxes=HorizontalBoxes(np.array(boxes, np.float32)),
        gt_bboxes_labels=np.arange(3, dtype=np.int64),
        gt_ignore_flags=np.zeros(3, bool),
    ), colours


@pytest.mark.parametrize('seed', range(5))
def test_boxes_follow_their_pixels(seed):
    random.seed(seed)
    parts = [
        drawn_image(seed * 10 + i, size, 10 + 20 * i)
        for i, size in enumerate(
            [(200, 300), (240, 180), (320, 320), (160, 400)]
        )
    ]
    results = dict(parts[0][0], mix_results=[p[0] for p in parts[1:]])
    colours = [c for _, cs in parts for c in cs]
    out = DEIMMosaic(fill=0, prob=1.0).transform(results)
    assert out['deim_mosaic']
    img = out['img']
    h, w = img.shape[:2]
    assert out['img_shape'] == (h, w)
    boxes = out['gt_bboxes'].numpy()
    assert len(boxes) == len(out['gt_bboxes_labels']) == 12
    assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= w).all()
    assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= h).all()
    checked = 0
    for box, colour in zip(boxes, colours):
        red, blue = img[..., 0].astype(float), img[..., 2].astype(float)
        ratio = red * 128 / np.maximum(blue, 1)
        ys, xs = np.nonzero((blue >= 64) & (np.abs(ratio - colour) < 2.5))
        if not len(xs):  # warped out of the canvas: the box is empty
            assert box[2] - box[0] < 1.5 or box[3] - box[1] < 1.5
            continue
        pixels = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        # every drawn pixel inside the box (1 px slack) ...
        assert (pixels[:2] >= box[:2] - 1).all(), (box, pixels)
        assert (pixels[2:] <= box[2:] + 1).all(), (box, pixels)
        # ... and, unless clipped (the box around the warped corners then
        # reaches past the visible part, as in the original), no looser
        # than the blended edges
        inside = (
            box[0] > 1 and box[1] > 1 and box[2] < w - 1 and box[3] < h - 1
        )
        if inside:
            assert np.abs(pixels - box).max() <= 3.0, (box, pixels)
        checked += 1
    assert checked >= 4


def test_no_mosaic_and_the_skip_wrapper():
    register_all_modules()  # mmdet's RandomFlip (boxes as box objects)
    random.seed(0)
    part, _ = drawn_image(0, (64, 64), 10)
    results = dict(part, mix_results=[part] * 3)
    out = DEIMMosaic(prob=0.0).transform(dict(results))
    assert out['deim_mosaic'] is False and out['img'].shape == (64, 64, 3)
    skip = DEIMSkipAfterMosaic([dict(type='RandomFlip', prob=1.0)])
    flipped = skip(dict(part, deim_mosaic=False))
    assert not np.array_equal(flipped['img'], part['img'])
    kept = skip(dict(part, deim_mosaic=True))
    assert np.array_equal(kept['img'], part['img'])


def test_too_small_data_set():
    with pytest.raises(ValueError, match='at least 4 images'):
        DEIMMosaic().get_indexes(list(range(3)))
    assert len(DEIMMosaic().get_indexes(list(range(4)))) == 3
