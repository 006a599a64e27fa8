__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Split a version string such as ``'0.1.0rc1'`` into a tuple.

    Args:
        version_str (str): The version string.

    Returns:
        tuple: Integers for the numeric parts, then the pre-release tag if
        any, e.g. ``(0, 1, 0, 'rc1')``.
    """
    parts = []
    for part in version_str.split('.'):
        if part.isdigit():
            parts.append(int(part))
        else:
            digits = ''.join(c for c in part if c.isdigit())
            tag = part[len(digits) :]
            parts.extend([int(digits), tag] if digits else [tag])
    return tuple(parts)


version_info = parse_version_info(__version__)
