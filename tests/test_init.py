import subprocess
import sys


def test_import_prints_nothing():
    result = subprocess.run(
        [sys.executable, '-c', 'import mmdet; import dfine_mm'],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ''
    assert result.stderr == ''


def test_version():
    import dfine_mm

    assert dfine_mm.version_info[:3] == tuple(
        int(p) for p in dfine_mm.__version__.split('.')[:3]
    )
