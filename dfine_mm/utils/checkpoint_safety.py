"""Let mmengine checkpoints load under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` unpickles with ``weights_only=True`` unless
told otherwise, and mmengine 0.10.7 never says otherwise. Checkpoints written
by mmengine's ``Runner`` hold more than tensors: the message hub's
``HistoryBuffer`` objects (numpy arrays inside, plus references to their
statistics methods) and numpy scalars and dtypes. Without help,
``load_checkpoint``, ``--resume``, ``init_detector`` and mmdeploy's model
build all fail with ``UnpicklingError: Weights only load failed``.

:func:`register_checkpoint_safe_globals` allow-lists exactly those types with
:func:`torch.serialization.add_safe_globals`. It never switches
``weights_only`` off, so a checkpoint that pickles an arbitrary callable is
still rejected.
"""

from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]

# numpy dtypes whose instances appear in logged scalars and arrays.
_NUMPY_SCALAR_TYPES = (
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
)


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stand-in for ``getattr`` while unpickling, limited to one use.

    ``HistoryBuffer`` keeps its statistics methods (``min``, ``max``,
    ``current``, ``mean`` and any registered with
    ``HistoryBuffer.register_statistics``) in a dict that is pickled with
    each buffer. Python pickles such a method as
    ``getattr(HistoryBuffer, 'min')``. Allowing the real ``getattr`` would
    let a checkpoint reach any attribute of any allowed object; this
    function only returns statistics methods of ``HistoryBuffer``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if owner is HistoryBuffer and isinstance(name, str):
        method = HistoryBuffer._statistics_methods.get(name)
        if method is None and name in ('min', 'max', 'current', 'mean'):
            method = getattr(HistoryBuffer, name)
        if method is not None:
            return method
    raise torch.serialization.pickle.UnpicklingError(
        f'dfine_mm only allows getattr(HistoryBuffer, <statistics method>) '
        f'in checkpoints, got getattr({owner!r}, {name!r})'
    )


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """The globals that mmengine / mmdet checkpoints need, and no others.

    Returns:
        list: Entries for :func:`torch.serialization.add_safe_globals`:
        ``HistoryBuffer``; numpy's array reconstruction (``ndarray``,
        ``_reconstruct``), ``dtype`` with the numeric dtype classes and the
        scalar constructor; and a ``getattr`` restricted to
        ``HistoryBuffer``'s statistics methods.
    """
    multiarray = np.core.multiarray
    safe: List[SafeGlobal] = [HistoryBuffer, np.ndarray, np.dtype]
    safe += [type(np.dtype(t)) for t in _NUMPY_SCALAR_TYPES]
    # numpy 1.x pickles these from ``numpy.core``, numpy 2.x from
    # ``numpy._core``; both names map to the installed functions.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        safe.append((multiarray._reconstruct, f'{module}._reconstruct'))
        safe.append((multiarray.scalar, f'{module}.scalar'))
    safe.append((_history_buffer_method, 'builtins.getattr'))
    return safe


def register_checkpoint_safe_globals() -> None:
    """Allow-list :func:`checkpoint_safe_globals` for ``torch.load``.

    Called once when :mod:`dfine_mm` is imported. Safe to call again.
    """
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
