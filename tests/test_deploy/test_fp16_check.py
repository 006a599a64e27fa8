"""fp16 emulation (dfine_mm.deploy.fp16_emulation) and the fp16 check
(dfine_mm.deploy.fp16_check, tools/analysis_tools/check_fp16.py)."""

import copy
import json
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, MMEngineLogRecords, load_script
from mmengine.config import Config
from torch import nn

from dfine_mm.converters.dfine import VARIANT_CONFIGS
from dfine_mm.deploy.export import task_processor
from dfine_mm.deploy.fp16_check import Fp16Check
from dfine_mm.deploy.fp16_emulation import (
    Fp16Emulation,
    fold_batch_norms,
    prepare_fp16_model,
)
from dfine_mm.deploy.selection_recorder import SelectionRecorder
from dfine_mm.testing import conditioned_state_dict, synthetic_images

tool = load_script('tools/analysis_tools/check_fp16.py')
DYNAMIC = osp.join(
    REPO_ROOT, 'configs', 'deploy', 'detection_onnxruntime_dynamic.py'
)
CONFIG_N = osp.join(REPO_ROOT, 'configs', 'dfine', VARIANT_CONFIGS['n'])


class Inner(nn.Module):
    def forward(self, x):
        return x * 70000.0  # beyond fp16's 65504


class Block(nn.Module):
    """Peaks at 70 * x inside, returns 0.07 * x."""

    def __init__(self):
        super().__init__()
        self.inner = Inner()

    def forward(self, x):
        return self.inner(x) / 1e6


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(self.block(x))


def _tiny_detections(model, images):
    """(dets (B, 4, 5), labels (B, 4)) from the net's output."""
    out = model(images.flatten(1)[:, :4])
    dets = torch.zeros(len(out), 4, 5)
    dets[..., 4] = out.sigmoid()
    dets[..., 2:4] = 1.0
    return dets.numpy(), torch.zeros(len(out), 4, dtype=torch.long).numpy()


def test_emulation_rounds_except_in_kept_modules():
    net = Net().eval()
    x = torch.ones(1, 4)
    with torch.no_grad():
        reference = net.block(x)
        with Fp16Emulation(net, kept=[]):
            assert torch.isinf(net.block.inner(x)).all()
            assert torch.isinf(net.block(x)).all()
            third = torch.full((3,), 1 / 3) * 1.0
        with Fp16Emulation(net, kept=['block']):
            kept = net.block(x)
    assert third[0] == torch.tensor(1 / 3).half().float() != 1 / 3
    assert torch.isfinite(kept).all()
    # the kept module's output leaves it rounded to fp16
    assert torch.equal(kept, reference.half().float())


def test_check_flags_the_overflow_and_the_kept_type():
    images = torch.ones(2, 3, 2, 2)
    with pytest.raises(ValueError, match='Block, Inner, Linear, Net'):
        Fp16Check(Net(), ['LayerNorm'], detect=_tiny_detections)
    check = Fp16Check(Net(), ['Block'], detect=_tiny_detections)
    result = check.run(images)
    rows = {row['name']: row for row in result['modules']}
    assert list(rows) == ['block.inner', 'block', 'linear']
    assert rows['block.inner']['beyond_fp16']
    assert rows['block.inner']['max_abs'] == 70000.0
    assert not rows['block']['beyond_fp16']
    kept, all_fp16 = 'fp32: Block', 'everything fp16'
    assert [v['label'] for v in result['variants']] == [kept, all_fp16]
    for name in ('block.inner', 'block', 'linear'):
        assert rows[name]['variants'][kept]['nonfinite'] == 0
        assert rows[name]['variants'][all_fp16]['nonfinite'] == 8
        assert rows[name]['variants'][all_fp16]['rel_error'] == float('inf')
    assert rows['block']['variants'][kept]['rel_error'] < 1e-3
    assert result['variants'][0]['kept_modules'] == 1


def test_prepare_folds_batch_norms_and_rounds_outside_kept():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.LayerNorm(6)
    )
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2)
    model[2].weight.data.normal_()
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    reference = model(x)
    folded = copy.deepcopy(model)
    assert fold_batch_norms(folded) == (1, 0)
    assert isinstance(folded[1], nn.Identity)
    torch.testing.assert_close(folded(x), reference, atol=1e-5, rtol=1e-5)
    fp16, kept, batch_norms = prepare_fp16_model(model, ['LayerNorm'])
    assert kept == ['2'] and batch_norms == (1, 0)
    assert isinstance(model[1], nn.BatchNorm2d)  # the original is unchanged
    weight = fp16[0].weight
    assert torch.equal(weight, weight.half().float())
    assert torch.equal(fp16[2].weight, model[2].weight)  # kept fp32


def test_pinned_selections():
    with SelectionRecorder() as recorder:
        torch.topk(torch.tensor([[0.5, 1.0, 2.0]]), 2)
        torch.sort(torch.tensor([3.0, 1.0, 2.0]))
    assert [s.tolist() for s in recorder.selections] == [[[2, 1]], [1, 2, 0]]
    scores = torch.tensor([[1.0, 1.0001, 0.5]])
    with Fp16Emulation(nn.Identity(), [], recorder.selections):
        values, indices = torch.topk(scores, 2)
        _, order = torch.sort(torch.tensor([0.0, 1.0, 2.0]))
    # the recorded indices, with this run's own (fp16) values
    assert indices.tolist() == [[2, 1]]
    assert values.tolist() == [[0.5, 1.0]]
    assert order.tolist() == [1, 2, 0]
    with Fp16Emulation(nn.Identity(), []):
        assert torch.topk(scores, 2).indices.tolist() == [[1, 0]]


@pytest.fixture(scope='module')
def checkpoint_n(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('weights') / 'n.pth')
    torch.save(dict(state_dict=conditioned_state_dict('n')), path)
    return path


def test_dfine_n(checkpoint_n):
    deploy_cfg = Config.fromfile(DYNAMIC)
    model_cfg = Config.fromfile(CONFIG_N)
    model = task_processor(deploy_cfg, model_cfg).build_pytorch_model(
        checkpoint_n
    )
    torch.set_num_threads(2)
    result = Fp16Check(model).run(synthetic_images(320, 320, 1))
    rows = {row['name']: row for row in result['modules']}
    names = {'backbone.stages.2', 'neck.encoder.0', 'decoder.layers.1'}
    assert names <= set(rows)
    assert 'decoder.layers.2.gateway.norm' in rows  # a kept module
    assert result['batch_norms'] == dict(folded=2, left=0)
    kept, all_fp16 = 'fp32: LayerNorm', 'everything fp16'
    for row in rows.values():
        assert row['max_abs'] < 65504 and not row['beyond_fp16']
        assert row['variants'][kept]['nonfinite'] == 0
        assert row['variants'][all_fp16]['unpaired_calls'] == 0
        # the top-k query selection is pinned to fp32's, so that module
        # outputs compare query by query (unpinned, the decoder's relative
        # errors are about 1: near-tied queries come out in another order)
        assert row['variants'][kept]['rel_error'] < 0.1, row
    # one conv + act rounded to fp16: errors of the order of 2^-11
    assert (
        1e-4
        < rows['backbone.stem.stem1']['variants'][kept]['rel_error']
        < 5e-3
    )
    variants = {v['label']: v for v in result['variants']}
    assert variants[kept]['kept_modules'] == 12
    assert variants[all_fp16]['kept_modules'] == 0
    for variant in variants.values():
        diff, confident = variant['detections'], variant['confident']
        assert set(diff) == {'score', 'box', 'label_mismatches'}
        assert 0 < diff['score'] < 1
        # random (conditioned) weights amplify the rounding through the
        # backbone, unlike trained ones: no bound on the differences here
        assert confident['count'] > 0
        assert 0 < confident['score'] <= diff['score']


def test_cli_errors(checkpoint_n, tmp_path):
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.main([CONFIG_N, missing])
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        tool.main([CONFIG_N, checkpoint_n, str(tmp_path / 'nope.jpg')])
    with pytest.raises(ValueError, match='static input size 640x640'):
        tool.main([CONFIG_N, checkpoint_n, '--size', '320', '320'])
    with pytest.raises(ValueError, match=r'GroupNorm.*LayerNorm'):
        tool.main(
            [CONFIG_N, checkpoint_n, '--deploy-cfg', DYNAMIC]
            + ['--size', '320', '320', '--fp32-types', 'GroupNorm']
        )


def test_cli_report(checkpoint_n, tmp_path):
    out = str(tmp_path / 'fp16.json')
    with MMEngineLogRecords() as records:
        assert (
            tool.main(
                [CONFIG_N, checkpoint_n, '--deploy-cfg', DYNAMIC]
                + ['--size', '320', '320', '--num-images', '1', '--depth']
                + ['1', '--fp32-types', 'none', '--out', out]
            )
            == 0
        )
    report = '\n'.join(records.messages)
    assert '[everything fp16] (0 modules kept in fp32)' in report
    assert 'detections with fp32 score >= 0.3' in report
    with open(out) as file:
        result = json.load(file)
    assert [v['label'] for v in result['variants']] == ['everything fp16']
    assert [row['name'] for row in result['modules']] == [
        'backbone',
        'neck',
        'enc_output',
        'decoder',
        'bbox_head',
    ]
    assert result['size'] == [320, 320]
