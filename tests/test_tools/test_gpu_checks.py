"""tools/misc/gpu_checks.sh: what can be checked without a GPU (its
syntax and its refusals; the checks themselves need CUDA)."""

import os
import re
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


def _checks(commands, budget):
    """Run ``check`` lines of the sourced script with a budget (s)."""
    script = f'source {SCRIPT}; BUDGET_S={budget}; {commands}'
    return subprocess.run(
        ['bash', '-c', script], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def test_a_check_is_stopped_at_its_cap_with_its_children(tmp_path):
    """A check that outlives its cap is killed, the worker processes it
    started too (the whole process group), and the next check runs."""
    marker = tmp_path / 'child_finished'
    child = f'(sleep 3; touch {marker}) & sleep 20'
    result = _checks(f"check 1 bash -c '{child}'; check 5 echo next", 100)
    assert result.returncode == 0, result.stderr
    assert 'FAILED or timed out (exit 124)' in result.stdout
    assert 'next' in result.stdout.splitlines()[-1]
    subprocess.run(['sleep', '4'])
    assert not marker.exists()


def test_a_check_without_budget_left_is_skipped():
    result = _checks('check 5 echo ran', 30)
    assert result.returncode == 0, result.stderr
    # the budget counts from the shell's start: on a loaded machine a
    # second may pass before the check
    (line,) = result.stdout.splitlines()
    match = re.fullmatch(
        r'\[gpu_checks\] SKIPPED \((\d+) s of the budget left\): echo ran',
        line,
    )
    assert match and 25 <= int(match.group(1)) <= 30, line


def test_a_misspelt_check_is_refused_before_anything_runs(tmp_path):
    (tmp_path / 'gpu' / 'wheels').mkdir(parents=True)
    result = run(
        'run', 'versus-s', 'versus_l', GPU_DIR=str(tmp_path / 'gpu'),
        OUT=str(tmp_path / 'out'),
    )  # fmt: skip
    assert result.returncode == 1
    assert "no check named 'versus_l'; the checks: gpu cuda-step" in (
        result.stderr
    )
    assert not (tmp_path / 'out').exists()  # nothing installed or run


def test_named_checks_run_in_the_given_order():
    """With ``echo`` for Python each check prints its command line."""
    result = _checks(
        'PYTHON=echo; run_checks channels-last-compile-s versus-l', 1000
    )
    assert result.returncode == 0, result.stderr
    ran = [line for line in result.stdout.splitlines()
           if not line.startswith('[gpu_checks]')]  # fmt: skip
    assert len(ran) == 2
    assert ran[0].startswith('tools/analysis_tools/benchmark_train.py '
                             'configs/dfine/dfine-s_')  # fmt: skip
    assert ran[0].endswith('--runs 10 --warmup 3 --channels-last --compile')
    assert '--compare-official .gpu/D-FINE --device cuda' in ran[0]
    assert ran[1].startswith('tools/analysis_tools/benchmark_train.py '
                             'configs/dfine/dfine-l_')  # fmt: skip
    assert '--channels-last' not in ran[1]


def test_without_names_every_check_runs_once():
    """Each check once (``check`` replaced by one printing its line)."""
    result = _checks('check() { echo "$*"; }; run_checks', 1000)
    assert result.returncode == 0, result.stderr
    with open(SCRIPT) as f:
        source = f.read()
    names = source.split('CHECKS=(', 1)[1].split(')')[0].split()
    assert len(names) == 13
    lines = result.stdout.splitlines()
    assert len(lines) == len(names)
    assert lines[0].startswith('20 nvidia-smi')
    # the CUDA step: the pytest of the fp64 step's CUDA tests
    assert lines[1].endswith('-m pytest -q -p no:cacheprovider '
                             'tests/test_models/test_losses/'
                             'test_step_gradients.py -k cuda')  # fmt: skip
    assert len(set(lines)) == len(lines)
