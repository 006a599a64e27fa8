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
