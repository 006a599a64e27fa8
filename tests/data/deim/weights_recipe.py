"""Deterministic perturbed weights in the official D-FINE / DEIM key layout.

Used by make_forward_fixture.py (to fill the original model) and by the
test (to rebuild the same official-layout state dict without the original
code). Every float tensor of ``tests/data/state_dict_keys/official_s.txt``
is drawn, key by key in the file's order, from one seeded generator:

- ``running_var``: uniform in [0.5, 1.5];
- ``*.weight`` of a norm (1-d) and ``lab.scale``: 1 + N(0, 0.1);
- other tensors of two or more dimensions: normal with std
  1 / sqrt(fan_in), fan_in the product of all but the first dimension;
- every other float (biases, running means, ``lab.bias``): N(0, 0.1).

The constants ``up``, ``reg_scale`` and ``num_points_scale`` and the
integer counters are not drawn: the caller supplies them.
"""

import os.path as osp
from typing import Dict, Iterable, Tuple

import torch

KEYS = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', 'state_dict_keys',
    'official_s.txt',
)  # fmt: skip
CONSTANTS = ('up', 'reg_scale', 'num_points_scale', 'num_batches_tracked')
SKIP = ('anchors', 'valid_mask')  # eval_spatial_size buffers (not built)


def official_s_shapes() -> Iterable[Tuple[str, Tuple[int, ...], str]]:
    """(key, shape, dtype) of the official D-FINE-S checkpoint."""
    with open(KEYS) as f:
        for line in f:
            key, shape, dtype = line.rstrip('\n').split('\t')
            dims = tuple(int(d) for d in shape.strip('()').split(',') if d)
            yield key, dims, dtype


def perturbed_state_dict(seed: int = 0) -> Dict[str, torch.Tensor]:
    """The drawn tensors (everything but :data:`CONSTANTS` and
    :data:`SKIP`)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in official_s_shapes():
        last = key.rsplit('.', 1)[-1]
        if dtype != 'float32' or last in CONSTANTS or last in SKIP:
            continue
        if last == 'running_var':
            value = torch.rand(shape, generator=gen) + 0.5
        elif (last == 'weight' and len(shape) == 1) or last == 'scale':
            value = 1 + 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) >= 2:
            fan_in = 1
            for dim in shape[1:]:
                fan_in *= dim
            value = torch.randn(shape, generator=gen) / fan_in**0.5
        else:
            value = 0.1 * torch.randn(shape, generator=gen)
        state[key] = value
    return state
