"""A detector's structural settings, given to its parts in one place."""

from typing import Any, Optional, Sequence


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


#: head setting <- decoder config path, given by the detector
HEAD_FROM_DECODER = (
    ('num_pred_layer', ('num_layers',)),
    ('reg_max', ('reg_max',)),
    ('eval_idx', ('eval_idx',)),
    ('embed_dims', ('layer_cfg', 'embed_dims')),
    ('act_cfg', ('act_cfg',)),
    ('mlp_act_cfg', ('mlp_act_cfg',)),
)


def head_settings(
    head: Optional[dict],
    decoder: Optional[dict],
    owner: str,
    keys: Optional[Sequence[str]] = None,
) -> dict:
    """The head's structural settings from the decoder's config (layers,
    bins, inference layer, channels), each set once on the decoder.

    Args:
        head (dict, optional): The head's config (copied).
        decoder (dict, optional): The decoder's config; settings it does
            not name keep the head's own values.
        owner (str): The detector's class name, for messages.
        keys (Sequence[str], optional): Only these settings (e.g. mmdet's
            DETRs fill ``num_pred_layer`` themselves). Defaults to all of
            :data:`HEAD_FROM_DECODER`.

    Returns:
        dict: The head's config with the settings.

    Raises:
        ValueError: The head's config sets one to another value.
    """
    head = dict(head or {})
    for key, path in HEAD_FROM_DECODER:
        if keys is not None and key not in keys:
            continue
        value: Any = decoder or {}
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None:
            decoder_key = '.'.join(path)
            if key in head and head[key] != value:
                raise ValueError(
                    f'bbox_head.{key}={head[key]!r} conflicts with '
                    f'decoder.{decoder_key}={value!r} in {owner}; set it '
                    f'once, on the decoder (the detector gives it to the '
                    'head)'
                )
            head[key] = value
    return head
