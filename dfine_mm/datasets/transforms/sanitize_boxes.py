"""Clip boxes to the image and drop degenerate ones, with a count."""

import logging

from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmengine.logging import print_log


@TRANSFORMS.register_module()
class DFineSanitizeBoxes(BaseTransform):
    """Clip ground-truth boxes to the image, then drop those narrower or
    lower than ``min_size`` pixels (as torchvision's
    ``SanitizeBoundingBoxes`` in the original pipeline).

    Dropped boxes are counted; the running count is logged at the first
    drop and then every ``log_interval`` drops, so data problems are
    visible without flooding the log.

    Required keys: ``img_shape``, ``gt_bboxes`` (HorizontalBoxes),
    ``gt_bboxes_labels``; optional ``gt_ignore_flags``. Modified: the same.

    Args:
        min_size (float): Smallest kept width and height in pixels.
            Defaults to 1.
        log_interval (int): Log every this many dropped boxes. Defaults to
            1000.
    """

    def __init__(self, min_size: float = 1.0, log_interval: int = 1000):
        self.min_size = min_size
        self.log_interval = log_interval
        self.num_dropped = 0

    def transform(self, results: dict) -> dict:
        boxes = results.get('gt_bboxes')
        if boxes is None or len(boxes) == 0:
            return results
        boxes.clip_(results['img_shape'][:2])
        wh = boxes.widths >= self.min_size
        keep = (wh & (boxes.heights >= self.min_size)).numpy()
        dropped = int((~keep).sum())
        if dropped:
            results['gt_bboxes'] = boxes[keep]
            for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
                if key in results:
                    results[key] = results[key][keep]
            self._count(dropped, results.get('img_path'))
        return results

    def _count(self, dropped: int, img_path) -> None:
        before = self.num_dropped
        self.num_dropped += dropped
        if before == 0 or (
            before // self.log_interval
            != self.num_dropped // self.log_interval
        ):
            print_log(
                f'DFineSanitizeBoxes: {self.num_dropped} boxes dropped so '
                f'far (smaller than {self.min_size} px after clipping to the '
                f'image; latest in {img_path})',
                logger='current',
                level=logging.INFO,
            )

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(min_size={self.min_size})'
