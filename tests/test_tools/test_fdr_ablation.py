"""tools/analysis_tools/fdr_ablation.py: the arm configs it writes build
the same small DINO (ResNet-18 from scratch, three levels) on every arm's
config and run a training step; the metrics reader takes the last
validation record."""

import json
import os

import torch
from helpers import det_samples
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from test_train import load_tool

SIZE = 160  # 134 encoder positions for 100 queries


def test_arm_configs_build_and_train(tmp_path):
    register_all_modules()
    ablation = load_tool('analysis_tools/fdr_ablation')
    args = ablation.parse_args(['--work-dir', str(tmp_path)])
    types = {}
    for arm in ablation.ARMS:
        path = ablation.write_arm_config(args, arm, str(tmp_path / 'data'))
        cfg = Config.fromfile(path)
        assert cfg.train_cfg.max_epochs == args.epochs
        assert cfg.randomness.seed == args.seed
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        # as the runner does: mmdet leaves DINO's level_embed as
        # uninitialised memory (torch.Tensor) until init_weights, which
        # made this test NaN on some runs
        model.init_weights()
        types[arm] = type(model).__name__
        assert model.backbone.depth == 18 and not model.backbone.norm_eval
        assert len(model.encoder.layers) == args.encoder_layers
        assert model.num_feature_levels == 3
        assert model.bbox_head.num_classes == args.num_classes
        model.train()
        losses = model.loss(
            torch.rand(2, 3, SIZE, SIZE), det_samples([2, 1], SIZE, SIZE)
        )
        total = sum(v for k, v in losses.items() if 'loss' in k)
        total.backward()
        assert model.backbone.conv1.weight.grad.abs().sum() > 0
        assert ('loss_ddf' in str(list(losses))) == (arm == 'dino_fdr_golsd')
    assert types == dict(dino='DINO', dino_fdr='DINOFDR',
                         dino_fdr_golsd='DINOFDR')  # fmt: skip


def test_read_metrics_takes_the_last_validation(tmp_path):
    ablation = load_tool('analysis_tools/fdr_ablation')
    folder = tmp_path / '20261122_000000' / 'vis_data'
    os.makedirs(folder)
    records = [{'loss': 3.0, 'step': 1}, {'coco/bbox_mAP': 0.1, 'step': 1},
               {'coco/bbox_mAP': 0.2, 'step': 2}]  # fmt: skip
    with open(folder / 'scalars.json', 'w') as file:
        file.write('\n'.join(json.dumps(r) for r in records))
    assert ablation.read_metrics(str(tmp_path))['coco/bbox_mAP'] == 0.2


def test_overhead_benchmark(capsys):
    """benchmark_fdr_overhead.py on the Deformable-DETR pair: both models
    timed side by side, memory each in its own process, small (ResNet-18,
    160 px: more encoder positions than the 300 queries; one step)."""
    tool = load_tool('analysis_tools/benchmark_fdr_overhead')
    argv = ['--detector', 'deformable_detr', '--depth', '18']
    argv += ['--size', '160', '160', '--batch', '1', '--boxes', '2']
    argv += ['--runs', '1', '--warmup', '0']
    assert tool.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    header = 'Deformable-DETR R-18, batch 1, 160x160'
    table = out[[line.startswith(header) for line in out].index(True) :]
    for line, label in zip(table[1:], ('train step', 'train peak', 'predict')):
        assert line.strip().startswith(label)
        assert 'Deformable-DETR+FDR+GO-LSD' in line
        assert float(line.rsplit('ratio', 1)[1]) > 0
