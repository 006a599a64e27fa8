"""The indices every top-k and sort of a run selects, recorded so that
:class:`~.fp16_emulation.Fp16Emulation` can make the same selections
(fp16 rounding must not change which queries are kept)."""

from typing import List

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

#: the aten selection ops whose indices (their second output) are recorded
SELECTION_OPS = (
    torch.ops.aten.topk.default,
    torch.ops.aten.sort.default,
    torch.ops.aten.sort.stable,
)


class SelectionRecorder(TorchDispatchMode):
    """Record the indices of every top-k and sort (in call order), e.g. of
    an fp32 run, for :class:`Fp16Emulation`'s ``selections``."""

    def __init__(self) -> None:
        super().__init__()
        self.selections: List[Tensor] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in SELECTION_OPS:
            self.selections.append(out[1].clone())
        return out
