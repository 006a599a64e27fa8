"""The contract of config refactors: every shipped D-FINE config means
what it meant in the snapshot (model, pipelines, parameter groups, hooks,
schedule; the training mode switch resolved to epochs).

After an intended change of meaning, regenerate the snapshot with
``python tests/test_configs/resolved.py
tests/data/resolved_configs/dfine_configs.json`` and say why in the
commit."""

import json
import os.path as osp

import pytest
from helpers import REPO_ROOT
from test_configs.resolved import resolve, shipped_configs

SNAPSHOT = osp.join(
    REPO_ROOT, 'tests', 'data', 'resolved_configs', 'dfine_configs.json'
)


@pytest.fixture(scope='module')
def snapshot():
    with open(SNAPSHOT) as f:
        return json.load(f)


def test_the_snapshot_covers_every_config(snapshot):
    assert sorted(snapshot) == shipped_configs()


@pytest.mark.parametrize('path', shipped_configs())
def test_config_means_what_it_meant(path, snapshot):
    new, old = resolve(path), snapshot[path]
    changed = [key for key in old if new.get(key) != old[key]]
    assert not changed, f'{path}: {changed} differ from the snapshot'
