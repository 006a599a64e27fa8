"""benchmark_train.py's report, from made-up results."""

from helpers import DEMO_CONFIG, load_script

from dfine_mm.testing.train_report import report_lines


def _args(*extra):
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    return tool.parse_args([DEMO_CONFIG, '--compare-transformers', *extra])


def test_timing_report_with_the_ratios():
    results = {
        'dfine_mm': dict(time=1.5, memory=900.0),
        'transformers': dict(time=2.0, memory=1000.0),
    }
    lines = report_lines(_args(), results, 'transformers')
    assert lines[0].startswith(
        'dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py: training step'
    )
    assert lines[0].endswith('2 threads, median of 5')
    assert lines[1].split() == ['dfine_mm', '1500', 'ms', 'peak', 'memory',
                                '+', '900', 'MiB']  # fmt: skip
    assert lines[-1].endswith('time 0.750x, memory 0.900x')


def test_page_faults_and_system_time_per_step():
    results = {
        'dfine_mm': dict(time=1.5, memory=900.0, faults=71234.4, system=0.15),
    }
    (_, line) = report_lines(_args(), results, None)
    assert line.endswith(
        '+    900 MiB, 71234 page faults and 150 ms system time per step'
    )


def test_paired_report():
    results = {
        'dfine_mm': dict(time=1.0, memory=float('nan')),
        'transformers': dict(time=1.25, memory=float('nan')),
        'paired': dict(ratios=[0.7046, 0.6912, 0.7321], ratio=0.7046),
    }
    lines = report_lines(_args('--paired'), results, 'transformers')
    assert '(not measured: --paired)' in lines[1]
    assert lines[-1].endswith(
        # three decimals: a median of 0.7046 is not shown as a goal of
        # 0.70x met
        "time 0.705x, the median of the rounds' ratios (0.70, 0.69, 0.73)"
    )


def test_operator_report():
    results = {
        'dfine_mm': dict(self_ms=300.0, ops=[['aten::mm', 120.0, 4.0]]),
        'transformers': dict(self_ms=400.0, ops=[['aten::mm', 150.0, 5.0]]),
    }
    args = _args('--ops', '1')
    assert args.paired  # with a reference: in one process, taking turns
    lines = report_lines(args, results, 'transformers')
    assert lines[0].endswith(
        'top 1 operators by time, mean of 5 steps taking turns'
    )
    assert lines[1].split()[:2] == ['dfine_mm', '300']
    assert lines[2].split() == ['aten::mm', '120.0', 'ms', '4.0', 'calls']
    assert lines[-1].endswith('operator time 0.750x')


def test_profile_report_has_no_ratio():
    results = {
        'dfine_mm': dict(time=2.0, shares=dict(backbone=0.25, backward=0.75))
    }
    lines = report_lines(_args('--profile'), results, None)
    assert lines[1].split()[:2] == ['dfine_mm', '2000']
    assert lines[2].split() == ['backbone', '25.0%']
    assert len(lines) == 4
