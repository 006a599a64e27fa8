"""Checks of the images a D-FINE detector takes."""

from torch import Tensor


def check_input_images(batch_inputs: Tensor, stride: int = 32) -> None:
    """Raise ValueError, naming the fix, for images a D-FINE detector
    cannot take.

    Args:
        batch_inputs (Tensor): Images, expected (B, 3, H, W).
        stride (int): The coarsest level's stride; H and W must be
            divisible by it. Defaults to 32.

    Raises:
        ValueError: For another shape or number of channels, or a side
            that is not divisible by ``stride``.
    """
    if batch_inputs.dim() != 4 or batch_inputs.shape[1] != 3:
        raise ValueError(
            'D-FINE takes images of shape (B, 3, H, W), got '
            f'{tuple(batch_inputs.shape)}; convert grey or RGBA images '
            'to 3-channel RGB'
        )
    height, width = (int(side) for side in batch_inputs.shape[-2:])
    if height % stride or width % stride:
        raise ValueError(
            f'D-FINE needs image sides divisible by {stride} (the stride '
            f'of its coarsest level), got {height}x{width}; resize to such '
            f'a size or set data_preprocessor.pad_size_divisor={stride}'
        )
