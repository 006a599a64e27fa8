"""tools/analysis_tools/visualize_distributions.py: the figure of the edge
distributions per decoder layer, for D-FINE and for DINO + FDR; plain box
regression is refused with a message."""

import glob
import os.path as osp

import pytest
import torch
from helpers import DEMO_CONFIG, REPO_ROOT, MMEngineLogRecords, load_tool
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

tool = load_tool('analysis_tools/visualize_distributions')


def checkpoint(tmp_path, config, **model):
    """A randomly initialised checkpoint of ``config`` (distribution branches
    perturbed so that the distributions are not flat)."""
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.update(model)
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    for param in detector.bbox_head.reg_branches.parameters():
        param.data.normal_(0, 0.05)
    path = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=detector.state_dict()), path)
    return path


def test_dfine_figure(tmp_path, synthetic_coco):
    image = sorted(glob.glob(osp.join(synthetic_coco, 'val', '*.jpg')))[0]
    out = str(tmp_path / 'dist.png')
    path = checkpoint(tmp_path, DEMO_CONFIG, backbone=dict(init_cfg=None))
    assert tool.main([DEMO_CONFIG, path, image, '--out', out,
                      '--topk', '2']) == 0  # fmt: skip
    assert osp.getsize(out) > 20_000


def test_plain_regression_is_refused(tmp_path, synthetic_coco):
    image = sorted(glob.glob(osp.join(synthetic_coco, 'val', '*.jpg')))[0]
    name = 'dfine-n-plain_hgnetv2-b0_1xb16-9e_synthetic.py'
    config = osp.join(REPO_ROOT, 'configs', 'dfine', 'ablation', name)
    path = checkpoint(tmp_path, config, backbone=dict(init_cfg=None))
    with pytest.raises(ValueError, match='no edge distributions'):
        tool.main([config, path, image, '--out', str(tmp_path / 'x.png')])


def test_edge_std_benchmark():
    """benchmark_edge_std.py runs (small size) and reports the step's
    share of predict."""
    bench = load_tool('analysis_tools/benchmark_edge_std')
    config = osp.join(REPO_ROOT, 'configs', 'dfine',
                      'dfine-n_hgnetv2-b0_4xb32-160e_coco.py')  # fmt: skip
    argv = [config, '--size', '320', '--runs', '2', '--warmup', '1']
    with MMEngineLogRecords() as records:
        assert bench.main(argv) == 0
    (line,) = [m for m in records.messages if 'edge_std step alone' in m]
    assert '% of predict' in line
