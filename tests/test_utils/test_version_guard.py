import subprocess
import sys
import textwrap

import pytest

from dfine_mm import __version__
from dfine_mm.utils import (
    SUPPORTED_VERSIONS,
    check_dependency_versions,
    installed_versions,
)

GOOD = {'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmdet': '3.3.0'}


def test_installed_stack_is_supported():
    check_dependency_versions(installed_versions())


@pytest.mark.parametrize(
    'name, version',
    [('mmdet', '3.2.0'), ('mmcv', '2.2.0'), ('mmengine', '0.9.1')],
)
def test_out_of_range_version_is_named(name, version):
    low, high = SUPPORTED_VERSIONS[name]
    with pytest.raises(ImportError) as info:
        check_dependency_versions({**GOOD, name: version})
    message = str(info.value)
    assert f'{name}: {version} found; supported: {name}>={low},<{high}' in (
        message
    )
    # only the offending package is reported
    others = set(GOOD) - {name}
    assert not any(f'  {other}:' in message for other in others)


def test_missing_package_is_named():
    with pytest.raises(ImportError, match='mmcv: not installed'):
        check_dependency_versions({**GOOD, 'mmcv': None})


def test_rc_versions_inside_the_range_pass():
    check_dependency_versions({**GOOD, 'mmdet': '3.3.1rc0'})


def test_import_dfine_mm_fails_with_unsupported_mmdet():
    """The guard runs on import: fake the installed mmdet version."""
    code = textwrap.dedent(
        """
        from importlib import metadata
        real_version = metadata.version
        metadata.version = lambda name: (
            '3.2.0' if name == 'mmdet' else real_version(name))
        try:
            import dfine_mm
        except ImportError as e:
            print(e)
        else:
            raise SystemExit('import succeeded')
        """
    )
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert 'mmdet: 3.2.0 found; supported: mmdet>=3.3.0,<3.4.0' in out.stdout
    assert f'dfine_mm {__version__} cannot run' in out.stdout
