"""alternating_medians: who runs when, and which runs are timed."""

import pytest

from dfine_mm.testing import timing


def test_turns_blocks_and_untimed_runs(monkeypatch):
    clock = [0.0]
    calls = []

    def runner(name, seconds):
        def run():
            calls.append(name)
            clock[0] += seconds

        return run

    monkeypatch.setattr(timing.time, 'perf_counter', lambda: clock[0])
    runners = dict(a=runner('a', 0.002), b=runner('b', 0.005))
    medians = timing.alternating_medians(
        runners, warmup=1, runs=2, block=3, settle=1
    )
    assert calls == (['a'] * 4 + ['b'] * 4) * 3
    assert medians == dict(a=pytest.approx(2.0), b=pytest.approx(5.0))


def test_run_by_run_by_default(monkeypatch):
    calls = []
    runners = dict(a=lambda: calls.append('a'), b=lambda: calls.append('b'))
    timing.alternating_medians(runners, warmup=2, runs=3)
    assert calls == ['a', 'b'] * 5


def test_times_per_round_and_paired_ratios(monkeypatch):
    clock = [0.0]
    # b is slow in round 1 (a slow spell of the machine): the per-round
    # ratio a / b is steady although b's times spread
    durations = dict(a=iter([1, 2, 1, 2]), b=iter([4, 8, 4, 4]))

    def runner(name):
        def run():
            clock[0] += next(durations[name]) / 1000

        return run

    monkeypatch.setattr(timing.time, 'perf_counter', lambda: clock[0])
    times = timing.alternating_times(
        dict(a=runner('a'), b=runner('b')), warmup=1, runs=3
    )
    assert times == dict(
        a=[[pytest.approx(2)], [pytest.approx(1)], [pytest.approx(2)]],
        b=[[pytest.approx(8)], [pytest.approx(4)], [pytest.approx(4)]],
    )
    ratios = timing.paired_ratios(times, 'a', 'b')
    assert ratios == pytest.approx([0.25, 0.25, 0.5])
    assert timing.medians(times) == dict(
        a=pytest.approx(2), b=pytest.approx(4)
    )


def test_synced_leaves_a_cpu_step_as_it_is():
    def step():
        return None

    assert timing.synced(step, 'cpu') is step
    assert timing.synced(step, 'cuda:0') is not step  # waits for kernels
