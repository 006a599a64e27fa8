"""Image loading that names bad files and can skip them with a log."""

import logging
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine.logging import print_log


@TRANSFORMS.register_module()
class DFineLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with a choice for bad images.

    A missing or undecodable image raises an error naming the file
    (``on_error='raise'``, the default), or, with ``on_error='skip'``, logs
    a warning naming it and returns None so that the data set draws
    another sample (mmengine's ``BaseDataset`` retries on None). Skipped
    files are counted.

    Args:
        on_error (str): 'raise' or 'skip'. Defaults to 'raise'.
        **kwargs: Passed to ``LoadImageFromFile``.
    """

    def __init__(self, on_error: str = 'raise', **kwargs) -> None:
        if on_error not in ('raise', 'skip'):
            raise ValueError(
                f"on_error must be 'raise' or 'skip', got {on_error!r}"
            )
        super().__init__(**kwargs)
        self.on_error = on_error
        self.num_skipped = 0

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            loaded = super().transform(results)
        except (OSError, AssertionError, ValueError) as error:
            if self.on_error == 'raise':
                raise OSError(
                    f'cannot read image {path}: {error}. Fix or remove the '
                    "file, or set on_error='skip' on the loading transform"
                ) from error
            loaded = None
        if loaded is None:
            if self.on_error == 'raise':
                raise OSError(f'cannot read image {path}')
            self.num_skipped += 1
            print_log(
                f'skipped unreadable image {path} ({self.num_skipped} '
                'skipped so far)',
                logger='current',
                level=logging.WARNING,
            )
        return loaded
