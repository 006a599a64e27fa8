"""DEIM's batch MixUp (Dense O2O): each image blended with its neighbour in
the batch, with both images' boxes."""

import random
from typing import Tuple

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor, nn


@MODELS.register_module()
class DEIMBatchMixUp(nn.Module):
    """Batch augmentation of DEIM's collate function (``apply_mixup``).

    While ``epochs[0] <= epoch < epochs[1]`` (0-based, read from mmengine's
    message hub), with probability ``prob`` per batch: with beta drawn from
    U(``beta_range``), image i becomes ``beta * image_i + (1 - beta) *
    image_{i-1}`` (the batch rolled by one; image 0 mixes with the last)
    and its ground truth the union of both images' boxes and labels. Put it
    before ``DFineBatchMultiScaleResize`` in the data preprocessor's
    ``batch_augments``, as the original mixes before resizing
    (:class:`DEIMDenseO2OHook` puts it there). Images of different sizes
    (keep-ratio pipelines such as DINO's) are mixed in the padded batch,
    where both images' boxes keep their pixels; a mixed image's
    ``img_shape`` becomes the larger of the two in each direction, so that
    the DETRs' padding masks uncover the other image.

    Args:
        prob (float): Probability per batch. Defaults to 0.5.
        beta_range (tuple[float]): Range of the weight of the image's own
            pixels. Defaults to (0.45, 0.55).
        epochs (tuple[int]): First epoch with and first without MixUp
            (the original's ``mixup_epochs``). Defaults to (4, 64).
    """

    def __init__(
        self,
        prob: float = 0.5,
        beta_range: Tuple[float, float] = (0.45, 0.55),
        epochs: Tuple[int, int] = (4, 64),
    ) -> None:
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.beta_range = tuple(beta_range)
        self.epochs = tuple(epochs)

    def forward(
        self, inputs: Tensor, data_samples: SampleList
    ) -> Tuple[Tensor, SampleList]:
        """Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[:obj:`DetDataSample`]): With ``gt_instances``
                (``bboxes`` xyxy pixels, ``labels``).

        Returns:
            tuple: The mixed inputs and samples (or the inputs unchanged).
        """
        epoch = MessageHub.get_current_instance().get_info('epoch', 0)
        start, stop = self.epochs
        if not start <= epoch < stop or len(data_samples) < 2:
            return inputs, data_samples
        if random.random() >= self.prob:
            return inputs, data_samples
        beta = round(random.uniform(*self.beta_range), 6)
        inputs = beta * inputs + (1 - beta) * inputs.roll(1, dims=0)
        previous = [s.gt_instances for s in data_samples]
        previous = previous[-1:] + previous[:-1]
        shapes = [tuple(s.metainfo['img_shape'][:2]) for s in data_samples]
        shapes = shapes[-1:] + shapes[:-1]
        for sample, other, shape in zip(data_samples, previous, shapes):
            mine = sample.gt_instances
            sample.gt_instances = InstanceData.cat([mine, other.clone()])
            own = sample.metainfo['img_shape']
            sample.set_metainfo(dict(img_shape=(
                max(own[0], shape[0]), max(own[1], shape[1]))))  # fmt: skip
        return inputs, data_samples
