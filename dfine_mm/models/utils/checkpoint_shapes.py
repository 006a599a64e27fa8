"""Refuse checkpoints of another model variant before they load.

mmengine loads ``load_from`` / ``init_detector`` / ``tools/test.py``
checkpoints with ``strict=False``: a tensor whose shape differs from the
model's is skipped with a warning and keeps its initial value. For the
class-score layers that is how fine-tuning on a data set with other classes
works; anywhere else it means the checkpoint belongs to another variant
(D-FINE-N weights in an L config), and the model would run with silently
wrong weights. :func:`check_checkpoint_shapes`, registered by the detector
as a load-state-dict pre-hook, raises instead, naming the first mismatched
tensors.
"""

from typing import List, Mapping, Sequence

from torch import Tensor, nn

# tensors whose first dimension is the number of classes (+1)
CLASS_DEPENDENT_PREFIXES = (
    'bbox_head.cls_branches.',
    'bbox_head.enc_cls_branch.',
    'dn_query_generator.label_embedding.',
)


def mismatched_shapes(
    module: nn.Module,
    state_dict: Mapping[str, Tensor],
    prefix: str = '',
    exempt: Sequence[str] = CLASS_DEPENDENT_PREFIXES,
) -> List[str]:
    """``'key: checkpoint shape vs model shape'`` for every tensor of
    ``state_dict`` (under ``prefix``) whose shape differs from the module's,
    except the ``exempt`` (class-dependent) ones."""
    out = []
    for key, own in module.state_dict().items():
        value = state_dict.get(prefix + key)
        if not isinstance(value, Tensor) or key.startswith(tuple(exempt)):
            continue
        if value.shape != own.shape:
            out.append(f'{key}: {tuple(value.shape)} vs {tuple(own.shape)}')
    return out


def check_checkpoint_shapes(
    module: nn.Module,
    state_dict: Mapping[str, Tensor],
    prefix: str,
    *args,
) -> None:
    """Load-state-dict pre-hook (``with_module=True``).

    Raises:
        ValueError: If a tensor other than the class-score layers has
            another shape than the model's, listing the first five.
    """
    wrong = mismatched_shapes(module, state_dict, prefix)
    if wrong:
        raise ValueError(
            f'the checkpoint does not fit this {type(module).__name__} '
            f'model: {len(wrong)} tensors have other shapes (checkpoint vs '
            f'model), e.g. {wrong[:5]}; it was made for another variant or '
            f'architecture{_variant_hint(state_dict, prefix)}: use the '
            'config it was trained with'
        )


def _variant_hint(state_dict: Mapping[str, Tensor], prefix: str) -> str:
    """' (D-FINE-N: dfine-n_...py)' when the shapes are a stock variant's."""
    from ...converters.dfine import VARIANT_CONFIGS, detect_variant

    own = {
        k[len(prefix) :]: v
        for k, v in state_dict.items()
        if k.startswith(prefix)
    }
    try:
        variant = detect_variant(own)
    except ValueError:
        return ''
    return f' (D-FINE-{variant.upper()}: {VARIANT_CONFIGS[variant]})'


__all__ = ['check_checkpoint_shapes', 'mismatched_shapes']
