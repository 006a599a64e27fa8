"""A project config (``projects.DEIM.deim`` in its ``custom_imports``)
loads with ``python tools/train.py`` from the repository root, where Python
puts ``tools/`` on ``sys.path``, not the root."""

import os
import os.path as osp
import subprocess
import sys

from helpers import REPO_ROOT

from dfine_mm.utils import add_checkout_projects

DEIM_CONFIG = osp.join(
    'projects', 'DEIM', 'configs',
    'deim-dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py',
)  # fmt: skip


def test_train_tool_loads_a_project_config(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    nowhere = tmp_path / 'nowhere'
    result = subprocess.run(
        [sys.executable, 'tools/train.py', DEIM_CONFIG, '--work-dir',
         str(tmp_path), '--cfg-options',
         f'train_dataloader.dataset.dataset.data_root={nowhere}/'],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    # the config loaded (its imports resolved), then the missing data
    # stopped the tool before anything was built
    assert 'Failed to import custom modules' not in result.stderr
    assert result.returncode != 0
    assert f'the annotation file {nowhere}' in result.stderr, result.stderr
    # the hint names the key of the data set inside MultiImageMixDataset
    assert 'train_dataloader.dataset.dataset.data_root=DIR/' in result.stderr


def test_only_a_checkout_root_is_added(tmp_path):
    before = list(sys.path)
    assert add_checkout_projects(str(tmp_path)) is None
    assert sys.path == before
    root = add_checkout_projects()
    assert root == REPO_ROOT  # the tests run in a checkout
    assert add_checkout_projects() == root  # not added twice
    entries = [osp.realpath(p or '.') for p in sys.path]
    assert entries.count(osp.realpath(root)) == 1


def test_the_working_directory_of_a_regular_install(monkeypatch, tmp_path):
    """Installed without ``-e``, dfine_mm is not in a checkout: the tools
    run from the repository root find its projects there."""
    from dfine_mm.utils import checkout_projects

    monkeypatch.setattr(checkout_projects, '_ROOT', str(tmp_path))
    monkeypatch.chdir(REPO_ROOT)
    assert add_checkout_projects() == REPO_ROOT
    monkeypatch.chdir(tmp_path)
    assert add_checkout_projects() is None
    gone = tmp_path / 'gone'  # a working directory removed under us
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert add_checkout_projects() is None
