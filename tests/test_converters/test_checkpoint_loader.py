"""Official, DEIM, transformers and dfine_mm checkpoints load through
mmengine's own entry points without a conversion step."""

import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, load_script, save_transformers_dfine
from mmdet.apis import init_detector
from mmengine.runner import load_checkpoint

from dfine_mm.converters.checkpoint_loader import convert_loaded_checkpoint
from dfine_mm.converters.dfine import build_variant_model, variant_config_path

DATA = osp.join(REPO_ROOT, 'tests', 'data')
OFFICIAL_N = osp.join(DATA, 'official_n', 'official_n_perturbed.pth')


def _converter():
    return load_script('tools/model_converters/dfine_to_mmdet.py')


def _outputs(model):
    images = torch.load(
        osp.join(DATA, 'official_n', 'inputs_and_eval_outputs.pth'),
        weights_only=True,
    )['images']
    with torch.no_grad():
        logits, boxes = model(images, None, mode='tensor')
    return torch.cat([logits[-1], boxes[-1]], -1)


@pytest.fixture(scope='module')
def converted_n(tmp_path_factory):
    """The CLI-converted official fixture and its model's outputs."""
    dst = str(tmp_path_factory.mktemp('converted') / 'n.pth')
    assert _converter().main([OFFICIAL_N, dst]) == 0
    model = init_detector(variant_config_path('n'), dst, device='cpu')
    return dst, _outputs(model)


@pytest.mark.parametrize('layout', ['model', 'ema', 'bare'])
def test_official_and_deim_files_load_like_the_converted(
    layout, converted_n, tmp_path
):
    state = torch.load(OFFICIAL_N, weights_only=True)['model']
    wrapped = dict(
        model={'model': state, 'last_epoch': 11},
        # a training checkpoint of the original / DEIM
        ema={'ema': {'module': state, 'updates': 3}, 'model': {}},
        bare=state,
    )[layout]
    path = str(tmp_path / 'official.pth')
    torch.save(wrapped, path)
    model = init_detector(variant_config_path('n'), path, device='cpu')
    diff = (_outputs(model) - converted_n[1]).abs().max().item()
    assert diff <= 1e-5, diff
    assert model.dataset_meta['classes'][0] == 'person'


def test_transformers_files_load_like_the_converted(tmp_path):
    pytest.importorskip('transformers')
    (tmp_path / 'hf').mkdir()
    save_transformers_dfine(tmp_path / 'hf', 'n', num_labels=80)
    converted = str(tmp_path / 'converted.pth')
    assert _converter().main([str(tmp_path / 'hf'), converted]) == 0
    config = variant_config_path('n')
    expected = _outputs(init_detector(config, converted, device='cpu'))
    for source in ('hf', 'hf/model.safetensors'):
        model = init_detector(config, str(tmp_path / source), device='cpu')
        diff = (_outputs(model) - expected).abs().max().item()
        assert diff <= 1e-5, (source, diff)


def test_dfine_mm_checkpoints_pass_through(converted_n):
    checkpoint = torch.load(converted_n[0], weights_only=True)
    assert convert_loaded_checkpoint(checkpoint, 'x') is checkpoint
    # and anything that is not a D-FINE checkpoint, e.g. a backbone file
    backbone = {'stem.stem1.conv.weight': torch.zeros(1)}
    assert convert_loaded_checkpoint(backbone, 'x') is backbone


def test_wrong_variant_fails_with_the_mismatched_keys():
    model = build_variant_model('s')
    with pytest.raises(ValueError, match='other shapes') as info:
        load_checkpoint(model, OFFICIAL_N)
    # N and S share the backbone: the first differences are in the neck
    assert 'neck.input_proj.0' in str(info.value)
    assert 'D-FINE-N: dfine-n_hgnetv2-b0_4xb32-160e_coco.py' in str(info.value)


def test_class_count_mismatch_stays_a_fine_tuning_warning(converted_n):
    """Only the class-score layers may differ (they are re-initialised, or
    remapped by DFineClassRemapHook), as in mmdet."""
    model = build_variant_model('n', num_classes=3)
    before = model.bbox_head.enc_cls_branch.weight.clone()
    load_checkpoint(model, converted_n[0])
    assert torch.equal(model.bbox_head.enc_cls_branch.weight, before)
    ref = torch.load(converted_n[0], weights_only=True)['state_dict']
    stem = 'backbone.stem.stem1.conv.weight'
    assert torch.equal(model.state_dict()[stem], ref[stem])


def test_deploy_form_is_refused_with_the_fix(tmp_path):
    from test_dfine_converter import official_layout

    path = str(tmp_path / 'deployed.pth')
    torch.save({'model': official_layout('n', deploy=True)}, path)
    with pytest.raises(ValueError, match='switch_to_deploy'):
        load_checkpoint(build_variant_model('n'), path)
