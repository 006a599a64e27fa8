"""Multi-scale training: resize each whole batch to a random square size."""

import random
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.logging import MessageHub
from torch import Tensor, nn


@MODELS.register_module()
class DFineBatchMultiScaleResize(nn.Module):
    """Batch augmentation of the original D-FINE collate function.

    Each training batch is resized (``F.interpolate``, nearest by default)
    to a square side drawn uniformly from ``scales`` while the epoch is
    below ``stop_epoch``; afterwards batches pass unchanged. Boxes are
    scaled with the images. Use it in the data preprocessor's
    ``batch_augments``.

    Args:
        scales (Sequence[int], optional): Candidate sides, each divisible by
            32. Repeating a side makes it more likely.
        base_size (int, optional): Instead of ``scales``, the original's
            list around ``base_size`` (:meth:`scales_from_base`).
        base_size_repeat (int): Times ``base_size`` appears in that list.
            Defaults to 3.
        stop_epoch (int): First (0-based) epoch without resizing. Defaults
            to a very large number (never stop); ``DFineModeSwitchHook``
            sets it from the config's ``stop_epoch``.
        mode (str): Interpolation mode. Defaults to 'nearest'.
    """

    def __init__(
        self,
        scales: Optional[Sequence[int]] = None,
        base_size: Optional[int] = None,
        base_size_repeat: int = 3,
        stop_epoch: int = 10**9,
        mode: str = 'nearest',
    ) -> None:
        super().__init__()
        if (scales is None) == (base_size is None):
            raise ValueError(
                'DFineBatchMultiScaleResize takes either scales (a list of '
                'sides) or base_size (with base_size_repeat), not '
                f'{"both" if scales is not None else "neither"}'
            )
        if scales is None:
            scales = self.scales_from_base(base_size, base_size_repeat)
        bad = [s for s in scales if s % 32]
        if not scales or bad:
            raise ValueError(
                f'scales must be a non-empty list of sides divisible by 32, '
                f'got {list(scales)}'
            )
        self.scales: List[int] = list(scales)
        self.stop_epoch = stop_epoch
        self.mode = mode

    @staticmethod
    def scales_from_base(base: int = 640, base_repeat: int = 3) -> List[int]:
        """The original's list: five sides below ``base`` in steps of 32,
        ``base`` ``base_repeat`` times, five sides above."""
        below = [base - 32 * i for i in range(5, 0, -1)]
        above = [base + 32 * i for i in range(5, 0, -1)]
        return below + [base] * base_repeat + above

    def forward(
        self, inputs: Tensor, data_samples: SampleList
    ) -> Tuple[Tensor, SampleList]:
        """Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[:obj:`DetDataSample`]): With ``gt_instances``.

        Returns:
            tuple: The resized inputs and the updated samples.
        """
        epoch = MessageHub.get_current_instance().get_info('epoch', 0)
        if epoch >= self.stop_epoch:
            return inputs, data_samples
        side = random.choice(self.scales)
        height, width = inputs.shape[-2:]
        if (height, width) == (side, side):
            return inputs, data_samples
        inputs = F.interpolate(inputs, size=(side, side), mode=self.mode)
        scale_x, scale_y = side / width, side / height
        for sample in data_samples:
            img_h, img_w = sample.metainfo['img_shape'][:2]
            sample.set_metainfo(
                dict(
                    img_shape=(round(img_h * scale_y), round(img_w * scale_x)),
                    pad_shape=(side, side),
                    batch_input_shape=(side, side),
                )
            )
            boxes = sample.gt_instances.bboxes
            if isinstance(boxes, Tensor):  # after boxtype2tensor
                sample.gt_instances.bboxes = boxes * boxes.new_tensor(
                    [scale_x, scale_y, scale_x, scale_y]
                )
            else:
                boxes.rescale_([scale_x, scale_y])
        return inputs, data_samples
