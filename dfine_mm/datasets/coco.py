"""COCO-format data set that reports what mmdet's drops silently."""

import logging
from collections import Counter
from typing import List, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log


@DATASETS.register_module()
class DFineCocoDataset(CocoDataset):
    """mmdet's ``CocoDataset`` with checked annotations.

    - An annotation whose ``category_id`` is not one of the data set's
      classes is an error naming the file, the ids and the fix (mmdet
      drops such annotations without a word), unless
      ``skip_unknown_categories=True``, which drops them with a count in
      the log.
    - Boxes mmdet drops (zero or negative size, under 1 px, outside the
      image) and crowd boxes (ignored) are counted and logged once the
      annotations are loaded.

    Args:
        skip_unknown_categories (bool): Drop (and count) annotations of
            unknown categories instead of raising. Defaults to False.
        **kwargs: Passed to ``CocoDataset``.
    """

    def __init__(self, *args, skip_unknown_categories: bool = False, **kwargs):
        self.skip_unknown_categories = skip_unknown_categories
        self._dropped: Counter = Counter()
        self._unknown: Counter = Counter()
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        self._dropped.clear()
        self._unknown.clear()
        data_list = super().load_data_list()
        if self._unknown and not self.skip_unknown_categories:
            raise ValueError(
                f'{self.ann_file}: annotations with category ids '
                f'{dict(self._unknown)} (id: count) are not among the data '
                f"set's classes {tuple(self.metainfo['classes'])} (ids "
                f'{sorted(self.cat_ids)}). Add their names to '
                "metainfo.classes (and the head's num_classes), remove "
                'them from the file, or set skip_unknown_categories=True '
                'to drop them.'
            )
        problems = dict(self._dropped)
        if self._unknown:
            problems['unknown category'] = sum(self._unknown.values())
        if problems:
            print_log(
                f'{self.ann_file}: dropped boxes {problems}',
                logger='current',
                level=logging.WARNING,
            )
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        img_info = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            x1, y1, w, h = ann['bbox']
            inter_w = max(0, min(x1 + w, img_info['width']) - max(x1, 0))
            inter_h = max(0, min(y1 + h, img_info['height']) - max(y1, 0))
            if inter_w * inter_h == 0:
                self._dropped['outside the image or empty'] += 1
            elif ann['area'] <= 0 or w < 1 or h < 1:
                self._dropped['smaller than 1 px'] += 1
            elif ann['category_id'] not in self.cat_ids:
                self._unknown[ann['category_id']] += 1
        return super().parse_data_info(raw_data_info)
