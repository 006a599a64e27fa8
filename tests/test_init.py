import json
import subprocess
import sys

IMPORT = """
import contextlib, io, json, warnings
import mmdet  # what the stack itself prints is not dfine_mm's
out, err = io.StringIO(), io.StringIO()
with warnings.catch_warnings(record=True) as caught, \\
        contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    warnings.simplefilter('always')
    import dfine_mm
own = [f'{w.filename}:{w.lineno}: {w.message}' for w in caught
       if '/dfine_mm/' in w.filename.replace('\\\\', '/')]
print(json.dumps(dict(out=out.getvalue(), err=err.getvalue(), own=own)))
"""


def test_import_prints_nothing():
    """Importing dfine_mm prints nothing and warns nothing of its own (the
    stack's own warnings, e.g. a deprecation in a dependency, do not count:
    they are not dfine_mm's to fix)."""
    result = subprocess.run(
        [sys.executable, '-c', IMPORT], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['out'] == ''
    assert report['own'] == []
    assert 'dfine_mm' not in report['err'], report['err']


def test_version():
    import dfine_mm

    assert dfine_mm.version_info[:3] == tuple(
        int(p) for p in dfine_mm.__version__.split('.')[:3]
    )
