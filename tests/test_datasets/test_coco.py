"""DFineCocoDataset: unknown categories and dropped boxes are reported."""

import json
import logging

import pytest
from mmdet.registry import DATASETS


def write(tmp_path, annotations):
    data = dict(
        images=[dict(id=1, file_name='a.jpg', width=100, height=80)],
        categories=[dict(id=1, name='circle'), dict(id=2, name='square')],
        annotations=[
            dict(id=i + 1, image_id=1, iscrowd=0, area=w * h,
                 bbox=[x, y, w, h], category_id=c)
            for i, (x, y, w, h, c) in enumerate(annotations)
        ],
    )  # fmt: skip
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path)


def build(path, **kwargs):
    return DATASETS.build(
        dict(
            type='DFineCocoDataset',
            ann_file=path,
            data_prefix=dict(img=''),
            metainfo=dict(classes=('circle', 'square')),
            pipeline=[],
            **kwargs,
        )
    )


def test_unknown_category_is_an_error(tmp_path):
    path = write(tmp_path, [(1, 1, 10, 10, 1), (5, 5, 10, 10, 7)])
    with pytest.raises(ValueError, match=r'category ids \{7: 1\}'):
        build(path)
    dataset = build(path, skip_unknown_categories=True)
    assert len(dataset[0]['instances']) == 1


def test_dropped_boxes_are_counted_in_the_log(tmp_path, monkeypatch):
    path = write(
        tmp_path,
        [
            (1, 1, 10, 10, 1),  # kept
            (200, 10, 10, 10, 2),  # outside the image
            (5, 5, 0.5, 10, 2),  # under 1 px
        ],
    )
    messages = []
    monkeypatch.setattr(
        'dfine_mm.datasets.coco.print_log',
        lambda msg, **kwargs: messages.append((msg, kwargs.get('level'))),
    )
    dataset = build(path)
    assert len(dataset[0]['instances']) == 1
    ((message, level),) = messages
    assert level == logging.WARNING
    assert "'outside the image or empty': 1" in message
    assert "'smaller than 1 px': 1" in message
