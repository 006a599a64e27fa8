"""Model names: the metafiles, model-index.yml and DetInferencer."""

import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT
from mmdet.apis import DetInferencer
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from dfine_mm.utils.model_index import (
    config_root,
    model_entries,
    resolve_model,
)

COCO_NAMES = dict(
    n='dfine-n_hgnetv2-b0_4xb32-160e_coco',
    s='dfine-s_hgnetv2-b0_4xb8-132e_coco',
    m='dfine-m_hgnetv2-b2_4xb8-132e_coco',
    l='dfine-l_hgnetv2-b4_4xb8-80e_coco',
    x='dfine-x_hgnetv2-b5_4xb8-80e_coco',
)
RELEASE = 'https://github.com/Peterande/storage/releases/download/dfinev1.0/'


def test_every_shipped_config_folder_is_indexed():
    assert config_root() == REPO_ROOT
    entries = model_entries()
    names = [e['Name'] for e in entries]
    assert len(names) == len(set(names))
    for entry in entries:
        config = osp.join(REPO_ROOT, entry['Config'])
        assert osp.isfile(config), entry['Name']
        assert osp.basename(config) == entry['Name'] + '.py'
    folders = {osp.dirname(e['Config']) for e in entries}
    assert folders == {
        'configs/dfine',
        'configs/dfine/objects365',
        'configs/dino_fdr',
        'configs/deformable_detr_fdr',
    }


def test_every_metafile_entry_builds():
    """Each distinct model of the index builds (its backbone's ImageNet
    initialisation is not run)."""
    register_all_modules()
    built = {}
    for entry in model_entries():
        cfg = Config.fromfile(osp.join(REPO_ROOT, entry['Config']))
        key = repr(cfg.model.to_dict())
        if key not in built:
            model = MODELS.build(cfg.model)
            built[key] = sum(p.numel() for p in model.parameters())
        params = entry['Metadata'].get('Parameters')
        if params is not None:
            assert built[key] == params, entry['Name']
    assert len(built) >= 8


@pytest.mark.parametrize('variant', sorted(COCO_NAMES))
def test_det_inferencer_resolves_the_coco_names(variant, tmp_path):
    from test_converters.test_dfine_converter import official_layout

    name = COCO_NAMES[variant]
    config, weights = resolve_model(name)
    assert config == osp.join(REPO_ROOT, 'configs', 'dfine', name + '.py')
    assert weights == f'{RELEASE}dfine_{variant}_coco.pth'
    assert resolve_model(f'dfine-{variant}') == (config, weights)  # alias
    # a local file in the official layout instead of the download
    path = str(tmp_path / f'dfine_{variant}_coco.pth')
    torch.save({'model': official_layout(variant)}, path)
    inferencer = DetInferencer(model=name, weights=path, device='cpu')
    assert osp.basename(inferencer.cfg.filename) == name + '.py'
    stem = inferencer.model.state_dict()['backbone.stem.stem1.conv.weight']
    assert torch.equal(stem, official_layout(variant)[
        'backbone.stem.stem1.conv.weight'])  # fmt: skip


def test_unknown_names_list_the_closest():
    with pytest.raises(ValueError, match='closest') as info:
        resolve_model('dfine-l_hgnetv2-b4_coco')
    assert 'dfine-l_hgnetv2-b4_4xb8-80e_coco' in str(info.value)
    with pytest.raises(ValueError, match='dfine-x'):
        DetInferencer(model='dfine-xx', device='cpu')


def test_mmdet_names_still_resolve():
    """Names dfine_mm does not know go to mmdet's own metafiles."""
    inferencer = DetInferencer.__new__(DetInferencer)
    inferencer.scope = 'mmdet'
    cfg, weights = inferencer._load_model_from_metafile(
        'dino-4scale_r50_8xb2-12e_coco'
    )
    assert cfg.model.type == 'DINO'
    assert weights.startswith('https://')
