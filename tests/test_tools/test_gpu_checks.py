"""tools/misc/gpu_checks.sh: what can be checked without a GPU (its
syntax and its refusals; the checks themselves need CUDA)."""

import os
import subprocess

from helpers import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, 'tools', 'misc', 'gpu_checks.sh')


def run(*args, **env):
    return subprocess.run(
        ['bash', SCRIPT, *args], cwd=REPO_ROOT, capture_output=True,
        text=True, env=dict(os.environ, **env), timeout=60,
    )  # fmt: skip


def test_the_script_parses():
    result = subprocess.run(['bash', '-n', SCRIPT], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_a_missing_verb_prints_the_usage():
    result = run()
    assert result.returncode == 1
    assert 'usage: tools/misc/gpu_checks.sh prepare|run' in result.stderr


def test_run_without_prepared_files_says_what_to_do(tmp_path):
    result = run('run', GPU_DIR=str(tmp_path / 'none'), OUT=str(tmp_path))
    assert result.returncode == 1
    assert "run 'tools/misc/gpu_checks.sh prepare' here" in result.stderr
    assert not (tmp_path / 'gpu_checks.log').exists()
