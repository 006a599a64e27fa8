import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from pycocotools.coco import COCO

from dfine_mm.datasets.synthetic import (
    SHAPE_CLASSES,
    generate_synthetic_coco,
    render_image,
    synthetic_classes,
    synthetic_metainfo,
)
from dfine_mm.datasets.synthetic.coco import _num_objects

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _all_files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root)
        for d, _, files in os.walk(root)
        for f in files
    )


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    for out, seed in ((a, 3), (b, 3), (c, 4)):
        generate_synthetic_coco(out, 6, 3, img_size=48, seed=seed)
    files = _all_files(a)
    assert files == _all_files(b)
    assert len(files) == 6 + 3 + 2
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert mismatch == [] and errors == []
    # another seed gives other images
    _, mismatch, _ = filecmp.cmpfiles(a, c, files, shallow=False)
    assert len(mismatch) >= 9


def test_images_do_not_depend_on_the_count(tmp_path):
    generate_synthetic_coco(str(tmp_path / 'few'), 2, 0, img_size=48)
    generate_synthetic_coco(str(tmp_path / 'many'), 5, 0, img_size=48)
    assert filecmp.cmp(
        tmp_path / 'few' / 'train' / '000002.jpg',
        tmp_path / 'many' / 'train' / '000002.jpg',
        shallow=False,
    )


@pytest.mark.parametrize('seed', range(12))
def test_boxes_enclose_the_drawn_pixels(seed):
    rng = np.random.default_rng(seed)
    image, objects = render_image(rng, 128, 15, range(len(SHAPE_CLASSES)))
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert len(objects) >= 5
    owned = np.zeros((128, 128), int)
    for obj in objects:
        ys, xs = np.nonzero(obj.mask)
        x, y, w, h = obj.bbox
        # every drawn pixel inside, and the box tight to within 1 px
        assert xs.min() >= x - 1 and xs.max() <= x + w
        assert ys.min() >= y - 1 and ys.max() <= y + h
        assert abs(xs.min() - x) <= 1 and abs(xs.max() - (x + w - 1)) <= 1
        assert abs(ys.min() - y) <= 1 and abs(ys.max() - (y + h - 1)) <= 1
        assert obj.area == len(xs) > 0
        owned += obj.mask
    assert owned.max() == 1  # each pixel belongs to at most one object


def test_shapes_cover_the_scale_range():
    sizes = []
    for seed in range(40):
        _, objects = render_image(np.random.default_rng(seed), 320, 15, [0])
        sizes += [max(o.bbox[2:]) for o in objects]
    assert min(sizes) <= 12  # about 8 px
    assert 100 <= max(sizes) <= 160  # up to half the image


def test_partial_overlap_keeps_objects_visible():
    """Some shapes overlap, and every object keeps visible pixels."""
    overlaps = 0
    for seed in range(10):
        _, objects = render_image(np.random.default_rng(seed), 96, 15, [1])
        for i, a in enumerate(objects):
            for b in objects[i + 1 :]:
                ax, ay, aw, ah = a.bbox
                bx, by, bw, bh = b.bbox
                if (
                    ax < bx + bw
                    and bx < ax + aw
                    and ay < by + bh
                    and by < ay + ah
                ):
                    overlaps += 1
        assert all(o.area > 0 for o in objects)
    assert overlaps > 0


def test_coco_files(synthetic_coco):
    for split, num in (('train', 24), ('val', 8)):
        coco = COCO(
            osp.join(synthetic_coco, f'annotations/instances_{split}.json')
        )
        assert len(coco.getImgIds()) == num
        names = [c['name'] for c in coco.loadCats(coco.getCatIds())]
        assert tuple(names) == synthetic_classes(5)
        per_image = [len(coco.getAnnIds(imgIds=i)) for i in coco.getImgIds()]
        assert min(per_image) == 0  # empty images present
        assert max(per_image) <= 15
        for ann in coco.loadAnns(coco.getAnnIds()):
            x, y, w, h = ann['bbox']
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0
            assert x + w <= 64 and y + h <= 64
            assert 1 <= ann['category_id'] <= 5
        for image in coco.loadImgs(coco.getImgIds()):
            assert osp.isfile(
                osp.join(synthetic_coco, split, image['file_name'])
            )


def test_json_boxes_match_the_rendered_objects(synthetic_coco):
    """Re-render every image from its seed: the written boxes are its
    objects' boxes."""
    path = osp.join(synthetic_coco, 'annotations/instances_train.json')
    with open(path) as f:
        data = json.load(f)
    for image in data['images']:
        # image i of split 'train' (1) is drawn from the stream (seed, 1, i)
        rng = np.random.default_rng([0, 1, image['id']])
        count = _num_objects(rng, image['id'])
        _, objects = render_image(rng, 64, count, range(5))
        written = [
            a for a in data['annotations'] if a['image_id'] == image['id']
        ]
        assert [a['bbox'] for a in written] == [list(o.bbox) for o in objects]
        assert [a['category_id'] for a in written] == [
            o.label + 1 for o in objects
        ]
        assert [a['area'] for a in written] == [o.area for o in objects]


def test_mmdet_coco_dataset_loads(synthetic_coco):
    from mmdet.datasets import CocoDataset

    dataset = CocoDataset(
        data_root=synthetic_coco,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        metainfo=synthetic_metainfo(5),
        pipeline=[],
    )
    coco = COCO(osp.join(synthetic_coco, 'annotations/instances_val.json'))
    assert len(dataset) == 8
    assert dataset.metainfo['classes'] == synthetic_classes(5)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert osp.isfile(info['img_path'])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=info['img_id']))
        assert len(info['instances']) == len(anns)
        for inst, ann in zip(info['instances'], anns):
            x, y, w, h = ann['bbox']
            assert inst['bbox'] == [x, y, x + w, y + h]
            assert inst['bbox_label'] == ann['category_id'] - 1


def test_dataset_config_builds_and_loads_images(synthetic_coco):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/datasets/synthetic_coco.py')
    )
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = synthetic_coco
    dataset = DATASETS.build(dataset_cfg)
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 320, 320)
    expected = synthetic_metainfo(5)
    assert dataset.metainfo['classes'] == expected['classes']
    assert [tuple(p) for p in dataset.metainfo['palette']] == [
        tuple(p) for p in expected['palette']
    ]


def test_metainfo_rejects_too_many_classes():
    with pytest.raises(ValueError, match='between 1 and 8'):
        synthetic_metainfo(len(SHAPE_CLASSES) + 1)
