"""tools/analysis_tools/fdr_ablation.py: arms differ from their neighbours
only in the named keys, the run configs build the protocol's models, the
smoke mode runs every arm end to end (results JSON, table, figure), bad
names are rejected and a failing run is recorded while the others go on."""

import json
import time

import pytest
import torch
from helpers import det_samples, load_tool
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

ablation = load_tool('analysis_tools/fdr_ablation')

#: (detector, arm before, arm after) -> the dotted keys that may differ
NEIGHBOURS = {
    ('dino', 'plain', 'fdr'): {
        'model.type', 'model.bbox_head.type', 'model.bbox_head.reg_max',
        'model.bbox_head.eval_idx', 'model.bbox_head.loss_fgl',
        'model.bbox_head.loss_ddf', 'model.bbox_head.union_matching',
        'model.decoder.reg_max', 'model.decoder.reg_scale',
        'model.decoder.up', 'model.decoder.eval_idx', 'custom_imports',
    },
    ('dfine', 'plain', 'fdr'): {'model.fdr'},
}  # fmt: skip
for det in ('dino', 'deformable_detr', 'dfine'):
    NEIGHBOURS[det, 'fdr', 'fdr_fgl'] = {'model.bbox_head.loss_fgl'}
    NEIGHBOURS[det, 'fdr_fgl', 'golsd'] = {
        'model.bbox_head.loss_ddf', 'model.bbox_head.union_matching'
    }  # fmt: skip
# the D-FINE diagnosis arms take GO-LSD apart
NEIGHBOURS['dfine', 'golsd_no_ddf', 'golsd'] = {'model.bbox_head.loss_ddf'}
NEIGHBOURS['dfine', 'golsd_no_union', 'golsd'] = {
    'model.bbox_head.union_matching'
}
NEIGHBOURS['deformable_detr', 'plain', 'fdr'] = set(
    NEIGHBOURS['dino', 'plain', 'fdr']
)


def flatten(value, prefix=''):
    """Dotted keys -> leaf values (lists of dicts by index)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f'{prefix}{key}.'))
        return out or {prefix[:-1]: {}}
    if isinstance(value, (list, tuple)) and any(
        isinstance(v, dict) for v in value
    ):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f'{prefix}{i}.'))
        return out
    return {prefix[:-1]: value}


def differing(a: dict, b: dict) -> set:
    # mmengine's hub loader marks mmdet's dicts with their registry scope
    keys = {k for k in set(a) | set(b) if not k.endswith('_scope_')}
    return {k for k in keys if a.get(k, 'missing') != b.get(k, 'missing')}


@pytest.mark.parametrize('pair', sorted(NEIGHBOURS))
def test_arms_differ_only_in_the_named_keys(pair):
    detector, before, after = pair
    a = flatten(ablation.load_arm_config(detector, before).to_dict())
    b = flatten(ablation.load_arm_config(detector, after).to_dict())
    named = NEIGHBOURS[pair]
    # a key one side sets to a dict and the other to None differs in its
    # sub-keys: each differing key must be a named key or below one
    reduced = {next((n for n in named if k == n or k.startswith(n + '.')), k)
               for k in differing(a, b)}  # fmt: skip
    assert reduced and reduced <= named, sorted(reduced - named)


def test_run_configs_build_the_protocol_models(tmp_path):
    """Every (detector, arm) run config of the CPU protocol builds its
    model with the protocol's setting and trains a step."""
    register_all_modules()
    protocol = ablation.make_protocol(ablation.parse_args([]))
    detr = protocol['detr']
    types = {}
    for detector, arms in ablation.DETECTORS.items():
        for arm in arms:
            path = ablation.write_run_config(
                protocol, detector, arm, 3, str(tmp_path / 'data'),
                str(tmp_path / f'{detector}_{arm}.py'),
            )  # fmt: skip
            cfg = Config.fromfile(path)
            assert cfg.randomness.seed == 3
            budget = protocol['dfine' if detector == 'dfine' else 'detr']
            assert cfg.train_dataloader.batch_size == budget['batch_size']
            assert cfg.train_cfg.max_epochs == budget['epochs']
            torch.manual_seed(0)
            model = MODELS.build(cfg.model)
            model.init_weights()
            types[detector, arm] = type(model).__name__
            assert model.bbox_head.num_classes == 5
            assert model.decoder.num_layers == 3
            if detector == 'dfine':
                assert model.decoder.fdr == (arm != 'plain')
                continue
            assert type(model.backbone).__name__ == 'HGNetV2'
            assert len(model.encoder.layers) == detr['encoder_layers']
            assert model.num_queries == detr['queries']
            assert cfg.optim_wrapper.optimizer.lr == detr['lr']
            model.train()
            size = 128
            losses = model.loss(torch.rand(2, 3, size, size),
                                det_samples([2, 1], size, size))  # fmt: skip
            total = sum(v for k, v in losses.items() if 'loss' in k)
            total.backward()
            assert ('loss_ddf' in str(list(losses))) == (arm == 'golsd')
            assert ('loss_fgl' in str(list(losses))) == (
                arm in ('fdr_fgl', 'golsd')
            )
    assert types['dino', 'plain'] == 'DINO'
    assert types['dino', 'golsd'] == 'FDRDINO'
    assert types['deformable_detr', 'plain'] == 'DeformableDETR'
    assert types['deformable_detr', 'fdr'] == 'FDRDeformableDETR'
    assert {types['dfine', a] for a in ablation.ARMS} == {'DFINE'}


def test_a_project_arm_keeps_its_phases_on_the_protocol_data(tmp_path):
    """DEIM's arm wraps its data set for the mosaic: the run config puts
    the protocol's data inside and its phase pipelines at the protocol's
    size."""
    protocol = ablation.make_protocol(ablation.parse_args(['--smoke']))
    size = protocol['data']['img_size']
    path = ablation.write_run_config(
        protocol, 'dfine', 'deim', 0, str(tmp_path / 'data'),
        str(tmp_path / 'deim.py'),
    )  # fmt: skip
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['dfine_mm', 'projects.DEIM.deim']
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'MultiImageMixDataset'
    assert dataset.dataset.data_root == str(tmp_path / 'data') + '/'
    assert dataset.dataset.metainfo.classes[0] == 'circle'
    assert [t.type for t in dataset.dataset.pipeline] == [
        'LoadImageFromFile', 'LoadAnnotations']  # fmt: skip
    assert dataset.pipeline == cfg.train_pipeline
    for name in (
        'train_pipeline',
        'train_pipeline_mosaic',
        'train_pipeline_augment',
        'train_pipeline_stage2',
    ):
        (resize,) = [t for t in cfg[name] if t.type == 'Resize']
        assert tuple(resize.scale) == (size, size), name
    assert cfg.train_pipeline_mosaic[0].type == 'DEIMMosaic'
    assert cfg.train_pipeline_mosaic[0].output_size == size // 2
    assert cfg.train_dataloader.batch_size == protocol['dfine']['batch_size']


SMOKE_SUBSET = ['--smoke', '--jobs', '0', '--seeds', '0', '--detectors',
                'dino', 'dfine', '--arms', 'plain', 'golsd']  # fmt: skip


def test_smoke_mode_runs_end_to_end(tmp_path):
    """The whole tool on tiny data: a DETR and D-FINE, each plain and with
    FDR + GO-LSD (every arm's config is built by
    ``test_run_configs_build_the_protocol_models``), a training step or two
    each, every decoder layer evaluated, JSON + table + figure."""
    start = time.time()
    code = ablation.main(SMOKE_SUBSET + ['--work-dir', str(tmp_path)])
    seconds = time.time() - start
    with open(tmp_path / 'ablation_results.json') as file:
        data = json.load(file)
    runs = data['runs']
    assert code == 0, [r.get('error') for r in runs]
    assert data['protocol']['name'] == 'smoke'
    assert len(runs) == 4
    for run in runs:
        assert len(run['layer_mAP']) == 3
        assert run['layer_mAP'][-1] == run['bbox_mAP']
        assert 0 <= run['bbox_mAP'] <= 1 and run['wall_s'] > 0
    table = (tmp_path / 'ablation_table.md').read_text()
    assert table.count('\n| ') == 6  # header, rule, 4 runs
    assert (tmp_path / 'ablation.png').stat().st_size > 10_000
    # resumes: nothing left to do
    again = time.time()
    assert ablation.main(SMOKE_SUBSET + ['--work-dir', str(tmp_path)]) == 0
    assert time.time() - again < 15
    print(f'smoke mode: {seconds:.1f} s')


def test_runs_in_child_processes_with_pinned_threads(tmp_path):
    """--jobs >= 1: each run is a child process with its thread count set
    (and its log and result file in the run's folder); a project arm (its
    config imports ``projects.DEIM.deim``) runs there as well."""
    code = ablation.main(['--smoke', '--jobs', '1', '--threads', '1',
                          '--seeds', '1', '--detectors', 'dfine', '--arms',
                          'deim', '--work-dir', str(tmp_path)])  # fmt: skip
    run_dir = tmp_path / 'smoke' / 'dfine_deim_s1'
    result = json.loads((run_dir / 'result.json').read_text())
    assert code == 0, result.get('error')
    assert result['threads'] == 1 and result['seed'] == 1
    assert len(result['layer_mAP']) == 3
    assert 'Epoch(train)' in (run_dir / 'run.log').read_text()


def test_unknown_names_list_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        ablation.parse_args(['--arms', 'fdr', 'golsdd'])
    assert 'plain, fdr, fdr_fgl, golsd' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablation.parse_args(['--detectors', 'detr'])
    assert 'dino, deformable_detr, dfine' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablation.parse_args(['--detectors', 'dino', '--arms', 'golsd_no_ddf'])
    assert "exists only for ['dfine']" in capsys.readouterr().err


def test_a_failed_run_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    calls = []

    def fake_run(config, work_dir):
        calls.append(config)
        if '_fdr_s0' in config:
            raise FloatingPointError('loss_bbox is nan at iteration 3')
        return dict(bbox_mAP=0.5, bbox_mAP_50=0.7, bbox_mAP_75=0.6,
                    layer_mAP=[0.3, 0.4, 0.5], wall_s=1.0)  # fmt: skip

    monkeypatch.setattr(ablation, 'run_one', fake_run)
    code = ablation.main(['--smoke', '--jobs', '0', '--seeds', '0',
                          '--detectors', 'dino', '--arms', 'plain', 'fdr',
                          'golsd', '--work-dir', str(tmp_path)])  # fmt: skip
    assert code == 1 and len(calls) == 3
    with open(tmp_path / 'ablation_results.json') as file:
        runs = {r['arm']: r for r in json.load(file)['runs']}
    assert 'loss_bbox is nan' in runs['fdr']['error']
    assert 'bbox_mAP' not in runs['fdr']
    assert runs['golsd']['bbox_mAP'] == 0.5
    table = (tmp_path / 'ablation_table.md').read_text()
    assert '| + FDR |  | - | - |' in table


def test_overhead_benchmark(capsys):
    """benchmark_fdr_overhead.py on the Deformable-DETR pair: both models
    timed side by side, memory each in its own process, small (ResNet-18,
    160 px: more encoder positions than the 300 queries; one step)."""
    tool = load_tool('analysis_tools/benchmark_fdr_overhead')
    argv = ['--detector', 'deformable_detr', '--depth', '18']
    argv += ['--size', '160', '160', '--batch', '1', '--boxes', '2']
    argv += ['--runs', '1', '--predict-runs', '2', '--warmup', '0']
    assert tool.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    header = 'Deformable-DETR R-18, batch 1, 160x160'
    table = out[[line.startswith(header) for line in out].index(True) :]
    for line, label in zip(table[1:], ('train step', 'train peak', 'predict')):
        assert line.strip().startswith(label)
        assert 'Deformable-DETR+FDR+GO-LSD' in line
        assert float(line.rsplit('ratio', 1)[1].split()[0]) > 0
    paired = table[3].split('median of the 2 paired rounds: ')[1]
    assert float(paired.rstrip(')')) > 0


def test_resumes_from_the_committed_results(tmp_path, monkeypatch):
    """A fresh checkout has the results JSON but no work directory: runs
    in the JSON count as done and stay in the collected study."""
    committed = dict(detector='dino', arm='plain', seed=0, bbox_mAP=0.35,
                     bbox_mAP_50=0.5, bbox_mAP_75=0.4,
                     layer_mAP=[0.3, 0.34, 0.35], wall_s=2000.0)  # fmt: skip
    protocol = dict(name='smoke')
    (tmp_path / 'ablation_results.json').write_text(
        json.dumps(dict(protocol=protocol, runs=[committed]))
    )
    calls = []

    def fake_run(config, work_dir):
        calls.append(config)
        return dict(bbox_mAP=0.3, bbox_mAP_50=0.4, bbox_mAP_75=0.3,
                    layer_mAP=[0.2, 0.25, 0.3], wall_s=1.0)  # fmt: skip

    monkeypatch.setattr(ablation, 'run_one', fake_run)
    assert ablation.main(['--smoke', '--jobs', '0', '--seeds', '0',
                          '--detectors', 'dino', '--arms', 'plain', 'fdr',
                          '--work-dir', str(tmp_path)]) == 0  # fmt: skip
    assert len(calls) == 1 and 'dino_fdr_s0' in calls[0]
    with open(tmp_path / 'ablation_results.json') as file:
        runs = {r['arm']: r for r in json.load(file)['runs']}
    assert runs['plain']['bbox_mAP'] == 0.35  # kept from the JSON
    assert runs['fdr']['bbox_mAP'] == 0.3


def test_summary_table_of_several_results_files(tmp_path, capsys):
    """``ablation_report.py --summary``: the study's and the diagnosis
    runs in one table, AP per seed and mean AP per layer; failed runs left
    out."""
    report = load_tool('analysis_tools/ablation_report')

    def run(arm, seed, ap, **extra):
        return dict(detector='dfine', arm=arm, seed=seed, bbox_mAP=ap,
                    bbox_mAP_50=ap + 0.2, bbox_mAP_75=ap + 0.1,
                    layer_mAP=[ap - 0.02, ap], wall_s=6.0,
                    **extra)  # fmt: skip

    study = [run('golsd', 0, 0.4), run('golsd', 1, 0.5),
             run('golsd', 2, 0.0, error='ValueError: x')]  # fmt: skip
    files = []
    for name, runs in (
        ('study', study),
        ('diag', [run('golsd_no_ddf', 0, 0.3)]),
    ):
        path = tmp_path / f'{name}.json'
        path.write_text(json.dumps(dict(protocol=dict(name='p'), runs=runs)))
        files.append(str(path))
    assert report.main(['--summary', *files]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 4
    assert rows[2] == (
        '| D-FINE-N | + FDR + GO-LSD (shipped) | 0, 1 | 0.450 ± 0.071 | '
        '0.650 ± 0.071 | 0.550 ± 0.071 | 0.430 / 0.450 | 0.400 / 0.500 |'
    )
    assert rows[3].startswith('| D-FINE-N | GO-LSD without DDF (diagnosis)')
