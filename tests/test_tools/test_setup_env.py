"""tools/setup_env.sh: failed pip installs are retried, a full disk is named.

The script runs for real on a throw-away venv whose ``pip`` is a fake that
records its calls and fails on demand, and whose ``python`` is this test's
interpreter (so the final ``import dfine_mm`` check holds). The mmcv wheel
is a dummy file in a temporary cache, so nothing is built or downloaded; a
fake ``df`` on ``PATH`` stands for a nearly full disk.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON311 = shutil.which('python3.11')

pytestmark = pytest.mark.skipif(
    PYTHON311 is None, reason='tools/setup_env.sh needs python3.11'
)

# Fails the first $FAKE_PIP_FAILS calls whose arguments contain
# $FAKE_PIP_FAIL_ON; `--help` prints pip's option when $FAKE_PIP_RESUME=1.
FAKE_PIP = r"""#!/usr/bin/env bash
if [ "$2" = --help ]; then
    [ "$FAKE_PIP_RESUME" = 1 ] && echo '  --resume-retries <n>  resume'
    echo '  --retries <n>  retries'
    exit 0
fi
echo "$*" >> "$FAKE_PIP_CALLS"
case "$*" in
    *"$FAKE_PIP_FAIL_ON"*)
        n=$(grep -c -- "$FAKE_PIP_FAIL_ON" "$FAKE_PIP_CALLS")
        if [ "$n" -le "$FAKE_PIP_FAILS" ]; then
            echo 'WARNING: Connection interrupted while downloading.'
            echo 'error: incomplete-download'
            exit 1
        fi ;;
esac
exit 0
"""


def run_setup(
    tmp_path: Path,
    fails: int,
    resume: bool = True,
    free_mib: int | None = None,
    stamped: bool = False,
    **env: str,
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run the script with a fake pip that fails ``fails`` stack installs.

    Args:
        tmp_path (Path): Where the venv, the cache and the fakes go.
        fails (int): How many stack installs fail before one succeeds.
        resume (bool): Whether the fake pip knows ``--resume-retries``.
        free_mib (int, optional): Free space every ``df`` reports; None
            keeps the real ``df``.
        stamped (bool): Whether the venv was set up before (an old stamp).
        **env (str): More environment variables for the script.

    Returns:
        tuple: The finished process and the fake pip's calls (argument
        strings, in order).
    """
    venv, cache = tmp_path / 'venv', tmp_path / 'cache'
    (venv / 'bin').mkdir(parents=True)
    python = venv / 'bin' / 'python'
    python.write_text(f'#!/usr/bin/env bash\nexec {sys.executable} "$@"\n')
    pip = venv / 'bin' / 'pip'
    pip.write_text(FAKE_PIP)
    for tool in (python, pip):
        tool.chmod(0o755)
    arch = os.uname().machine
    wheels = cache / f'mmcv-2.1.0_torch-2.13.0_cp311_{arch}'
    wheels.mkdir(parents=True)
    (wheels / f'mmcv-2.1.0-cp311-cp311-linux_{arch}.whl').write_text('')
    if stamped:
        (venv / '.dfine_mm_setup').write_text('an older set-up\n')
    path = os.environ['PATH']
    if free_mib is not None:
        fakes = tmp_path / 'fakes'
        fakes.mkdir()
        (fakes / 'df').write_text(
            '#!/usr/bin/env bash\n'
            'echo "Filesystem 1024-blocks Used Available Capacity Mounted"\n'
            f'echo "/dev/fake 9999999 1 {free_mib * 1024} 99% /"\n'
        )
        (fakes / 'df').chmod(0o755)
        path = f'{fakes}:{path}'
    calls = tmp_path / 'calls.txt'
    calls.write_text('')
    proc = subprocess.run(
        ['bash', 'tools/setup_env.sh'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            'PATH': path,
            'PYTHON': PYTHON311,
            'VENV': str(venv),
            'DFINE_MM_CACHE': str(cache),
            'PIP_RETRY_WAIT': '0',
            'FAKE_PIP_CALLS': str(calls),
            'FAKE_PIP_FAIL_ON': 'requirements/stack.txt',
            'FAKE_PIP_FAILS': str(fails),
            'FAKE_PIP_RESUME': '1' if resume else '0',
            **env,
        },
    )
    return proc, calls.read_text().splitlines()


def test_a_dropped_download_is_retried(tmp_path: Path) -> None:
    proc, calls = run_setup(tmp_path, fails=1)
    assert proc.returncode == 0, proc.stderr
    stack = [c for c in calls if 'requirements/stack.txt' in c]
    assert len(stack) == 2
    assert 'failed (attempt 1 of 3)' in proc.stdout
    assert all('--resume-retries 20' in c for c in calls)
    assert '-e .[tests,deploy]' in calls[-1]
    assert (tmp_path / 'venv' / '.dfine_mm_setup').is_file()


def test_a_failing_install_stops_after_its_attempts(tmp_path: Path) -> None:
    proc, calls = run_setup(tmp_path, fails=99, PIP_ATTEMPTS='2')
    assert proc.returncode == 1
    assert 'pip install failed' in proc.stderr
    assert 'incomplete-download' in proc.stderr
    assert sum('requirements/stack.txt' in c for c in calls) == 2
    # the editable install does not run after a failed stack install
    assert not any('-e .[tests,deploy]' in c for c in calls)
    assert not (tmp_path / 'venv' / '.dfine_mm_setup').exists()


def test_an_old_pip_is_not_given_resume_retries(tmp_path: Path) -> None:
    proc, calls = run_setup(tmp_path, fails=0, resume=False)
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 3
    assert not any('--resume-retries' in c for c in calls)


def test_bad_retry_settings_are_named(tmp_path: Path) -> None:
    proc, calls = run_setup(tmp_path, fails=0, PIP_ATTEMPTS='three')
    assert proc.returncode == 1
    assert "PIP_ATTEMPTS ('three')" in proc.stderr
    assert calls == []


def test_a_nearly_full_disk_stops_set_up_before_pip(tmp_path: Path) -> None:
    proc, calls = run_setup(tmp_path, fails=0, free_mib=2000)
    assert proc.returncode == 1
    assert 'needs about 4000 MiB' in proc.stderr
    assert 'which has 2000 MiB' in proc.stderr
    assert calls == []
    # updating a venv that was set up before needs far less
    proc, calls = run_setup(
        tmp_path / 'again', fails=0, free_mib=2000, stamped=True
    )
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 3
