"""Steps that DEIM runs only on images the Mosaic left alone."""

from typing import List

from mmcv.transforms import BaseTransform, Compose
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class DEIMSkipAfterMosaic(BaseTransform):
    """Run ``transforms`` unless :class:`DEIMMosaic` made this image
    (``deim_mosaic`` True): the original replaces zoom-out and IoU crop by
    the mosaic for that sample.

    Args:
        transforms (list[dict]): The steps (e.g. ``Expand`` and the IoU
            crop).
    """

    def __init__(self, transforms: List[dict]) -> None:
        self.transforms = Compose(transforms)

    def transform(self, results: dict):
        if results.get('deim_mosaic', False):
            return results
        return self.transforms(results)
