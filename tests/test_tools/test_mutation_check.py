"""tools/misc/mutation_check.py stays in step with the source: every defect
applies to exactly one line of today's code, a stale line is an error, and
a defect in a copy leaves the repository alone (the full check runs the
tests of each defect: a documented command, not part of the suite)."""

import os.path as osp

import pytest
from helpers import REPO_ROOT, load_script


def test_every_defect_applies_to_one_line(tmp_path):
    tool = load_script('tools/misc/mutation_check.py')
    assert len(tool.MUTATIONS) == 8
    for name, mutation in tool.MUTATIONS.items():
        path = osp.join(REPO_ROOT, mutation.path)
        with open(path) as file:
            source = file.read()
        assert source.count(mutation.line) == 1, name
        assert mutation.line != mutation.defect, name
        assert all(osp.exists(osp.join(REPO_ROOT, t)) for t in mutation.tests)
        copy = tmp_path / name / mutation.path
        copy.parent.mkdir(parents=True)
        copy.write_text(source)
        tool.mutate(str(tmp_path / name), mutation)
        changed = copy.read_text()
        assert changed == source.replace(mutation.line, mutation.defect)
        with open(path) as file:
            assert file.read() == source  # the repository is untouched
        with pytest.raises(ValueError, match='occurs 0 times'):
            tool.mutate(str(tmp_path / name), mutation._replace(
                line=mutation.line + '  # not in the source'))  # fmt: skip


def test_first_failure_is_read_from_pytest_output():
    tool = load_script('tools/misc/mutation_check.py')
    output = 'x\nFAILED tests/a.py::test_b - AssertionError\nFAILED c\n'
    assert tool.first_failure(output) == 'tests/a.py::test_b'
    assert tool.first_failure('ERROR tests/d.py - ImportError') == (
        'tests/d.py'
    )
    assert tool.first_failure('3 passed') is None
