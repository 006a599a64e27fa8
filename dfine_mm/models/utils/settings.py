"""A detector's structural settings, given to its parts in one place."""

from typing import Any, Optional


def inject_setting(
    cfg: Optional[dict], key: str, value: Any, owner: str, part: str
) -> dict:
    """Set ``cfg[key] = value`` unless the user set a different value.

    A structural setting (e.g. ``fdr``) lives on the detector; the decoder
    and the head receive it from there, as mmdet's ``DeformableDETR`` fills
    its head's ``num_pred_layer``.

    Args:
        cfg (dict, optional): The part's config (copied, not changed).
        key (str): Setting name.
        value: The detector's value.
        owner (str): The detector's class name, for the message.
        part (str): The part's config key (``decoder``, ``bbox_head``).

    Returns:
        dict: A copy of ``cfg`` with the setting.

    Raises:
        ValueError: The part's config sets ``key`` to another value.
    """
    cfg = dict(cfg or {})
    if key in cfg and cfg[key] != value:
        raise ValueError(
            f'{part}.{key}={cfg[key]!r} conflicts with {owner}({key}='
            f'{value!r}); set {key} once, on the detector (model.{key})'
        )
    cfg[key] = value
    return cfg
