"""The checkpoint converter: official and transformers layouts, train and
deploy keys, variant detection and mismatch errors, the CLI."""

import os.path as osp

import pytest
import torch
from helpers import layout_state_dict, load_script, save_transformers_dfine
from scipy.optimize import linear_sum_assignment

from dfine_mm.converters.dfine import (
    build_variant_model,
    convert_dfine_state_dict,
    detect_source_format,
    detect_variant,
    is_deploy_form,
    read_source_state_dict,
)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(REPO_ROOT, 'tests', 'data')


def official_layout(variant, deploy=False):
    """A state dict with exactly the official keys, shapes and dtypes."""
    return layout_state_dict(
        f'official_{variant}{"_deploy" if deploy else ""}'
    )


def load_tool():
    return load_script('tools/model_converters/dfine_to_mmdet.py')


@pytest.mark.parametrize('variant', ['n', 's', 'm', 'l', 'x'])
@pytest.mark.parametrize('deploy', [False, True])
def test_official_layout_loads_strictly(variant, deploy):
    source = official_layout(variant, deploy)
    assert detect_source_format(source) == 'official'
    converted, _ = convert_dfine_state_dict(source)
    assert detect_variant(converted) == variant
    assert is_deploy_form(converted) == deploy
    model = build_variant_model(variant)
    if deploy:
        model.switch_to_deploy(fuse_backbone=False)
    model.load_state_dict(converted, strict=True)
    # every tensor arrives unchanged (the dropped ones are derived buffers)
    state = model.state_dict()
    for key, value in converted.items():
        assert torch.equal(state[key], value), key


def test_official_fixture_reproduces_official_outputs(tmp_path):
    """The official code's eval outputs for the perturbed D-FINE-N
    fixture, from the CLI-converted checkpoint."""
    dst = str(tmp_path / 'n.pth')
    assert (
        load_tool().main(
            [osp.join(DATA, 'official_n', 'official_n_perturbed.pth'), dst]
        )
        == 0
    )
    model = build_variant_model('n')
    checkpoint = torch.load(dst, weights_only=True)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    assert checkpoint['meta']['variant'] == 'n'
    assert len(checkpoint['meta']['dataset_meta']['classes']) == 80
    golden = torch.load(
        osp.join(DATA, 'official_n', 'inputs_and_eval_outputs.pth'),
        weights_only=True,
    )
    with torch.no_grad():
        logits, boxes = model(golden['images'], None, mode='tensor')
    for b in range(2):
        expected = torch.cat(
            [golden['eval_pred_boxes'][b], golden['eval_pred_logits'][b]], -1
        )
        got = torch.cat([boxes[-1, b], logits[-1, b]], -1)
        rows, cols = linear_sum_assignment(torch.cdist(expected, got).numpy())
        diff = (expected[rows] - got[cols]).abs().max().item()
        assert diff <= 1e-4, diff


def test_wrong_variant_lists_mismatched_keys(tmp_path, capsys):
    src = str(tmp_path / 'official_n.pth')
    torch.save({'model': official_layout('n')}, src)
    code = load_tool().main([src, str(tmp_path / 'out.pth'), '--variant', 's'])
    err = capsys.readouterr().err
    assert code == 1
    assert 'does not match D-FINE-S' in err
    assert 'use --variant n' in err
    assert 'shape mismatch' in err or 'missing' in err
    assert not (tmp_path / 'out.pth').exists()


def test_cli_summary_and_ema_wrapper(tmp_path, capsys):
    src = str(tmp_path / 'last.pth')
    torch.save({'ema': {'module': official_layout('n', deploy=True)}}, src)
    assert load_tool().main([src, str(tmp_path / 'out.pth')]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith('D-FINE-N, official (deploy-mode keys), ')
    assert torch.load(str(tmp_path / 'out.pth'))['meta']['deploy'] is True


def test_transformers_safetensors_file_and_directory(tmp_path):
    pytest.importorskip('transformers')
    (tmp_path / 'hf').mkdir()
    save_transformers_dfine(tmp_path / 'hf', 'n', num_labels=3)
    for src in (tmp_path / 'hf', tmp_path / 'hf' / 'model.safetensors'):
        loaded = read_source_state_dict(str(src))
        converted, source = convert_dfine_state_dict(loaded)
        assert source == 'transformers'
        model = build_variant_model('n', num_classes=3)
        model.load_state_dict(converted, strict=True)


def test_imagenet_backbone_file(tmp_path, capsys):
    source = {
        k[len('backbone.') :]: v
        for k, v in official_layout('l').items()
        if k.startswith('backbone.')
    }
    src = str(tmp_path / 'PPHGNetV2_B4_stage1.pth')
    torch.save(source, src)
    dst = str(tmp_path / 'b4.pth')
    assert load_tool().main([src, dst]) == 0
    assert 'HGNetV2 ImageNet backbone' in capsys.readouterr().out
    model = build_variant_model('l')
    model.backbone.load_state_dict(torch.load(dst)['state_dict'], strict=True)


def test_unknown_inputs_have_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        read_source_state_dict(str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='unrecognised checkpoint'):
        detect_source_format({'foo.weight': torch.zeros(1)})
    bad = official_layout('n')
    bad['decoder.mystery.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='decoder.mystery'):
        convert_dfine_state_dict(bad)
