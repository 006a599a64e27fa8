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


def test_the_backbone_norm_group_is_empty_for_every_variant():
    """What resolve() assumes: the original's backbone-norm regex matches
    no trainable parameter of any D-FINE variant."""
    import re

    from test_configs.resolved import BACKBONE_NORM

    from dfine_mm.converters.dfine import build_variant_model

    for variant in ('n', 's', 'm', 'l', 'x'):
        model = build_variant_model(variant)
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        assert not [n for n in names if re.findall(BACKBONE_NORM, n)]


def test_a_child_changes_one_parameter_group(tmp_path):
    """Setting the backbone LR in a child changes that group only."""
    base = osp.join(REPO_ROOT, 'configs', 'dfine',
                    'dfine-s_hgnetv2-b0_4xb8-132e_coco.py')  # fmt: skip
    child = tmp_path / 'child.py'
    child.write_text(
        f"_base_ = '{base}'\n"
        'optim_wrapper = dict(paramwise_cfg=dict(groups=dict(\n'
        '    backbone=dict(lr=3e-5))))\n'
    )
    old = resolve(osp.relpath(base, REPO_ROOT))['param_groups']
    new = resolve(str(child))['param_groups']
    assert new[0]['lr'] == 3e-5 and old[0]['lr'] == 1e-4
    assert new[0]['pattern'] == old[0]['pattern']
    assert new[1:] == old[1:]
