"""What conftest.py does for the whole suite: the files that use a shared
session fixture are the ones listed as one unit for pytest-xdist's workers,
and no test's (or test file's) default scope reaches the next one."""

import ast
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys

from helpers import REPO_ROOT, SHARED_FIXTURE_FILES


def _files_requesting(fixture: str) -> set:
    """Test files with a test or fixture function taking ``fixture``."""
    found = set()
    pattern = osp.join(REPO_ROOT, 'tests', '**', 'test_*.py')
    for path in glob.glob(pattern, recursive=True):
        with open(path) as file:
            tree = ast.parse(file.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and fixture in {
                a.arg for a in node.args.args
            }:
                found.add(osp.relpath(path, REPO_ROOT))
    return found


def test_every_user_of_a_shared_fixture_is_listed():
    """A file that starts using ``trained_demo`` without being listed would
    train the demo model a second time on another worker."""
    for fixture in set(SHARED_FIXTURE_FILES.values()):
        listed = {f for f, n in SHARED_FIXTURE_FILES.items() if n == fixture}
        assert _files_requesting(fixture) == listed, fixture


def test_a_scope_left_current_by_a_test():
    """Leaves a default scope current, as a Runner does (the next test
    checks that conftest.py's fixture restored the session's scopes)."""
    from mmengine.registry import DefaultScope

    DefaultScope.get_instance('left-by-a-test', scope_name='mmengine')
    assert DefaultScope.get_current_instance().scope_name == 'mmengine'


def test_does_not_reach_the_next_test():
    from mmengine.registry import DefaultScope

    assert not DefaultScope.check_instance_created('left-by-a-test')


def test_a_visualizer_made_by_a_test(tmp_path):
    """Makes the visualizer a Runner with mmdet's default runtime makes
    (named ``'visualizer'``, saving under this test's ``tmp_path``)."""
    from mmdet.visualization import DetLocalVisualizer

    DetLocalVisualizer.get_instance('visualizer', save_dir=str(tmp_path))
    assert DetLocalVisualizer.check_instance_created('visualizer')


def test_is_not_handed_to_the_next_test():
    """The next Runner gets a visualizer of its own (pytest removes a passed
    test's ``tmp_path``; the old one would write into a removed folder)."""
    from mmdet.visualization import DetLocalVisualizer

    assert not DetLocalVisualizer.check_instance_created('visualizer')


LEAKING_FILE = """
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(scope='module')
def runner_like():
    DefaultScope.get_instance('left-by-a-module-fixture', scope_name='x')


def test_sees_its_fixture_scope(runner_like):
    assert DefaultScope.get_current_instance().scope_name == 'x'
"""

NEXT_FILE = """
from mmengine.registry import DefaultScope


def test_starts_without_it():
    assert not DefaultScope.check_instance_created('left-by-a-module-fixture')
"""


def test_a_module_fixture_scope_does_not_reach_the_next_file(tmp_path):
    """A scope a module fixture leaves current (a Runner trained once per
    file) stays within its file: the suite's conftest.py on two files."""
    shutil.copy(osp.join(REPO_ROOT, 'tests', 'conftest.py'), tmp_path)
    (tmp_path / 'test_a.py').write_text(LEAKING_FILE)
    (tmp_path / 'test_b.py').write_text(NEXT_FILE)
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')
    env = dict(os.environ, PYTHONPATH=osp.join(REPO_ROOT, 'tests'))
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         'test_a.py', 'test_b.py'],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert '2 passed' in result.stdout
