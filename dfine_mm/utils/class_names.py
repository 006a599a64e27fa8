"""Match class names across label spaces (for moving class heads)."""

import re
from typing import Dict, List, Optional, Sequence


def _singular(word: str) -> str:
    """A crude English singular: 'boxes' -> 'box', 'cars' -> 'car',
    'glasses' -> 'glass' (good enough to compare class names)."""
    if len(word) > 3 and word.endswith('ies'):
        return word[:-3] + 'y'
    if len(word) > 3 and re.search(r'(s|x|z|ch|sh)es$', word):
        return word[:-2]
    if len(word) > 2 and word.endswith('s') and not word.endswith('ss'):
        return word[:-1]
    return word


def normalise_name(name: str) -> str:
    """Lower case, ``_`` / ``-`` as spaces, each word singular."""
    words = re.sub(r'[_\-\s]+', ' ', name.strip().lower()).split()
    return ' '.join(_singular(w) for w in words)


def _aliases(name: str) -> List[str]:
    """A source name and its ``/``-separated alternatives
    ('Moniter/TV' -> 'Moniter/TV', 'Moniter', 'TV')."""
    parts = [p for p in name.split('/') if p.strip()]
    return [name] + (parts if len(parts) > 1 else [])


def match_class_names(
    targets: Sequence[str], sources: Sequence[str]
) -> List[Optional[int]]:
    """The index in ``sources`` of each target class, or None.

    A target matches a source name (or one of its ``/``-separated
    alternatives) exactly first, then ignoring case, ``_`` / ``-`` and
    plural endings. The first source that matches wins.

    Returns:
        list: One entry per target.
    """
    exact: Dict[str, int] = {}
    loose: Dict[str, int] = {}
    for index, name in enumerate(sources):
        for alias in _aliases(name):
            exact.setdefault(alias.strip(), index)
            loose.setdefault(normalise_name(alias), index)
    out: List[Optional[int]] = []
    for target in targets:
        found = exact.get(target.strip())
        if found is None:
            found = loose.get(normalise_name(target))
        out.append(found)
    return out


__all__ = ['match_class_names', 'normalise_name']
