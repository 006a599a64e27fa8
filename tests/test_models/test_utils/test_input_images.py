"""check_input_images: what a D-FINE detector refuses, and the fix it
names."""

import pytest
import torch

from dfine_mm.models.utils.input_images import check_input_images


@pytest.mark.parametrize(
    'shape, message',
    [
        ((3, 64, 64), 'convert grey or RGBA'),
        ((1, 4, 64, 64), 'got (1, 4, 64, 64)'),
        ((1, 3, 64, 80), 'got 64x80; resize'),
    ],
)
def test_bad_images_are_refused(shape, message):
    with pytest.raises(ValueError, match='D-FINE') as error:
        check_input_images(torch.zeros(shape))
    assert message in str(error.value)


def test_the_stride_is_the_coarsest_levels():
    check_input_images(torch.zeros(2, 3, 64, 96))
    check_input_images(torch.zeros(1, 3, 48, 48), stride=16)
    with pytest.raises(ValueError, match='pad_size_divisor=64'):
        check_input_images(torch.zeros(1, 3, 96, 96), stride=64)
