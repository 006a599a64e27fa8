"""SectionTimer: exclusive and inclusive times of nested sections, on a
fake clock."""

import pytest

from dfine_mm.testing import SectionTimer
from dfine_mm.testing import section_timer as module


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(module.time, 'perf_counter', fake)
    return fake


def test_nested_sections_are_exclusive(clock):
    timer = SectionTimer('cpu')
    for _ in range(2):  # times add up over calls
        with timer.section('outer'):
            clock.now += 1.0
            with timer.section('inner'):
                clock.now += 3.0
            clock.now += 0.5
    assert timer.totals == {'inner': 6.0, 'outer': 3.0}
    assert timer.inclusive == {'inner': 6.0, 'outer': 9.0}


def test_wrap_times_every_call_and_keeps_the_result(clock):
    class Owner:
        def work(self, value):
            clock.now += value
            return value * 2

    owner = Owner()
    timer = SectionTimer('cpu')
    timer.wrap(owner, 'work', 'work')
    with timer.section('step'):
        assert owner.work(2.0) == 4.0
        assert owner.work(1.0) == 2.0
    assert timer.totals == {'work': 3.0, 'step': 0.0}
    assert timer.inclusive['step'] == 3.0
