"""The sub-modules a hook works on, looked up once for every hook."""

from typing import List, Sequence

from torch import nn


def model_parts(
    model: nn.Module, parts: Sequence[str], owner: str
) -> List[nn.Module]:
    """The sub-modules of ``model`` named by ``parts``.

    Args:
        model (nn.Module): The detector (not a wrapper).
        parts (Sequence[str]): Attribute names of its sub-modules.
        owner (str): The hook's name, for the error message.

    Returns:
        list[nn.Module]: The parts, in the order of ``parts``.

    Raises:
        ValueError: When the model lacks one of them; the message names
            the missing ones and ``owner``.
    """
    missing = [p for p in parts if getattr(model, p, None) is None]
    if missing:
        raise ValueError(
            f'{owner}: the model has no {missing}; set parts to some of '
            "its sub-modules (e.g. ('backbone',))"
        )
    return [getattr(model, p) for p in parts]
