"""Pack transformers' separate attention projections into the layout of
``nn.MultiheadAttention`` (and of the official checkpoints)."""

from typing import Mapping

import torch
from torch import Tensor


def pack_qkv(parts: Mapping[str, Tensor], target: str) -> Tensor:
    """Concatenate the ``'q'``, ``'k'`` and ``'v'`` tensors of ``parts``
    (weights (C, C) or biases (C,)) into ``in_proj_*`` order q, k, v.

    Raises:
        KeyError: Naming ``target`` and the missing projections.
    """
    missing = [p for p in 'qkv' if p not in parts]
    if missing:
        raise KeyError(
            f'{target!r}: the transformers state dict lacks the '
            f'{missing} projection(s) needed to pack q, k, v'
        )
    return torch.cat([parts[p] for p in 'qkv'], dim=0)
