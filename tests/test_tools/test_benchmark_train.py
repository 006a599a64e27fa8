"""benchmark_train.py --profile (dfine_mm's training step by section),
--paired (both steps in one process) and --ops (the top operators): tiny
D-FINE-N steps; the shares and the bookkeeping, not the timings."""

import pytest
import torch
from helpers import DEMO_CONFIG, REPO_ROOT, load_script

from dfine_mm.testing.step_profile import STEP_SECTIONS

pytest.importorskip('transformers')
pytestmark = pytest.mark.slow


def test_profile_splits_the_step_into_its_sections():
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    results = tool.main([config, '--profile', '--batch', '1', '--size',
                         '320', '--runs', '1', '--warmup', '1',
                         '--channels-last'])  # fmt: skip
    # the worker's convolution weights were channels-last (the report goes
    # to mmengine's logger, whose stream a test cannot rely on capturing);
    # DFineChannelsLastHook itself: test_dfine_training.py
    assert results['dfine_mm']['channels_last'] is True
    shares = results['dfine_mm']['shares']
    assert list(shares) == [*STEP_SECTIONS, 'other']
    assert sum(shares.values()) == pytest.approx(1.0)
    for section in STEP_SECTIONS:  # every section ran and was timed
        assert 0.0 < shares[section] < 1.0, (section, shares)
    assert abs(shares['other']) < 0.2, shares
    assert results['dfine_mm']['time'] > 0


def test_paired_steps_take_turns_in_one_process():
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    results = tool.main([config, '--compare-transformers', '--paired',
                         '--batch', '1', '--size', '320', '--runs', '3',
                         '--warmup', '1'])  # fmt: skip
    paired = results.pop('paired')
    assert list(results) == ['dfine_mm', 'transformers']
    assert len(paired['ratios']) == 3  # one per timed round
    assert paired['ratio'] == sorted(paired['ratios'])[1]
    assert results['dfine_mm'].pop('channels_last') is False  # not asked
    for result in results.values():
        assert result['time'] > 0
        assert result['memory'] != result['memory']  # NaN: not measured


def test_a_plain_run_measures_time_memory_and_page_faults():
    """On the demo config: its 5 classes bound the fixed targets' labels."""
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    results = tool.main([DEMO_CONFIG, '--batch', '1', '--size', '256',
                         '--runs', '2', '--warmup', '1'])  # fmt: skip
    result = results['dfine_mm']
    assert result['time'] > 0 and result['memory'] >= 0
    # counted by the kernel over the two timed steps, per step
    assert result['faults'] >= 0 and result['system'] >= 0
    assert result['faults'] == int(result['faults'] * 2) / 2


def test_ops_lists_the_steps_top_operators():
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    results = tool.main([config, '--ops', '1000', '--batch', '1', '--size',
                         '320', '--runs', '1', '--warmup', '1'])  # fmt: skip
    table = results['dfine_mm']
    # every operator is listed (not only the slowest: one step's times
    # move with the machine's load), slowest first
    calls = {name: count for name, _, count in table['ops']}
    assert 20 < len(calls) < 1000
    times = [ms for _, ms, _ in table['ops']]
    assert times == sorted(times, reverse=True)
    assert sum(times) == pytest.approx(table['self_ms'])
    # the step's backward ran: one convolution backward per convolution
    assert calls['aten::convolution_backward'] == calls['aten::convolution']


def test_ops_with_a_reference_profiles_both_in_one_process():
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    results = tool.main([config, '--compare-transformers', '--ops', '3',
                         '--batch', '1', '--size', '320', '--runs', '2',
                         '--warmup', '1'])  # fmt: skip
    assert list(results) == ['dfine_mm', 'transformers']  # one worker
    assert results['dfine_mm']['channels_last'] is False
    for table in results.values():
        assert len(table['ops']) == 3 and table['self_ms'] > 0
        assert all(name.startswith('aten::') for name, _, _ in table['ops'])


@pytest.mark.parametrize(
    'extra, message',
    [(['--paired'], 'add --compare-transformers'),
     (['--paired', '--compare-transformers', '--profile'],
      'cannot be combined'),
     (['--profile', '--compile'], 'cannot time compiled parts'),
     (['--ops', '5', '--profile'], '--ops and --profile cannot'),
     (['--compare-official', 'no/such/checkout'],
      'is not a checkout of the original')],
)  # fmt: skip
def test_refusals(extra, message, capsys):
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    with pytest.raises(SystemExit):
        tool.parse_args([DEMO_CONFIG, *extra])
    assert message in capsys.readouterr().err


def test_a_missing_config_is_refused_before_any_worker(tmp_path, capsys):
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    missing = str(tmp_path / 'missing_config.py')
    with pytest.raises(SystemExit):
        tool.main([missing, '--runs', '1', '--warmup', '0'])
    assert f'config {missing} does not exist' in capsys.readouterr().err


def test_a_failing_worker_shows_its_error(tmp_path):
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = tmp_path / 'broken_config.py'
    config.write_text("model = dict(type='NoSuchDetector', backbone=dict())\n")
    with pytest.raises(RuntimeError, match='the dfine_mm worker failed') as e:
        tool.main([str(config), '--runs', '1', '--warmup', '0'])
    assert 'NoSuchDetector' in str(e.value).split(':\n', 1)[1]


def test_compile_and_channels_last_prepare_dfine_mm_only():
    """--compile compiles dfine_mm's backbone and neck in place (the
    compiled step itself: tests/test_engine/test_compile_hook.py)."""
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    args = tool.parse_args([config, '--compare-transformers', '--compile',
                            '--channels-last'])  # fmt: skip
    model, reference, _ = tool.build(args)
    for part in (model.backbone, model.neck):
        assert part._compiled_call_impl is not None
    assert all(m._compiled_call_impl is None for m in reference.modules())


def test_the_channels_last_hook_finds_the_model_on_its_device():
    """As in a runner, the model is on ``--device`` when the channels-last
    hook prepares it (``meta`` stands in for CUDA): channels-last weights,
    and no CPU-only gradient hooks."""
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    args = tool.parse_args(
        [config, '--compare-transformers', '--channels-last']
        + ['--device', 'meta']
    )
    model, reference, _ = tool.build(args)
    conv = model.backbone.stem.stem1.conv
    assert conv.weight.device.type == 'meta'
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not any(m._forward_hooks for m in model.modules())
    assert next(reference.parameters()).device.type == 'meta'


def test_amp_autocasts_to_the_devices_half_type(monkeypatch):
    """--amp: bf16 on the CPU (fp16 there has few fast kernels), fp16 on
    CUDA (asked of torch.autocast, which a CPU build turns down); without
    it, no autocast."""
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    with tool._autocast(tool.parse_args([config, '--amp'])):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    with tool._autocast(tool.parse_args([config])):
        assert not torch.is_autocast_enabled('cpu')
    asked = []
    monkeypatch.setattr(
        tool.torch, 'autocast', lambda *a, **k: asked.append((a, k))
    )
    tool._autocast(tool.parse_args([config, '--amp', '--device', 'cuda:1']))
    assert asked == [(('cuda',), dict(dtype=torch.float16))]
