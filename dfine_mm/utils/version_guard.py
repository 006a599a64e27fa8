"""Refuse to import with OpenMMLab packages outside the supported ranges."""

from importlib import metadata
from typing import Dict, Optional, Tuple

from mmengine.utils import digit_version

# name -> (lowest supported version, first unsupported version)
SUPPORTED_VERSIONS: Dict[str, Tuple[str, str]] = {
    'mmengine': ('0.10.7', '0.11.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
}


def installed_versions() -> Dict[str, Optional[str]]:
    """Return the installed version of each supported package.

    Returns:
        dict: Package name to version string, or None when not installed.
    """
    found: Dict[str, Optional[str]] = {}
    for name in SUPPORTED_VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def check_dependency_versions(
    found: Optional[Dict[str, Optional[str]]] = None,
) -> None:
    """Raise if mmengine, mmcv or mmdet is missing or out of range.

    Args:
        found (dict, optional): Package name to installed version (None if
            missing). Defaults to the versions installed in this environment.

    Raises:
        ImportError: Naming every package that is missing or out of range,
            the version found and the supported range.
    """
    if found is None:
        found = installed_versions()
    problems = []
    for name, (low, high) in SUPPORTED_VERSIONS.items():
        version = found.get(name)
        wanted = f'{name}>={low},<{high}'
        if version is None:
            problems.append(f'  {name}: not installed; supported: {wanted}')
        elif not (
            digit_version(low) <= digit_version(version) < digit_version(high)
        ):
            problems.append(f'  {name}: {version} found; supported: {wanted}')
    if problems:
        from dfine_mm.version import __version__

        raise ImportError(
            f'dfine_mm {__version__} cannot run with the installed '
            'OpenMMLab packages:\n' + '\n'.join(problems) + '\n'
            'Install the supported versions (`make setup` does, building '
            'mmcv 2.1.0 from source), e.g. pip install '
            + ' '.join(
                f'"{n}>={lo},<{hi}"'
                for n, (lo, hi) in SUPPORTED_VERSIONS.items()
            )
        )
