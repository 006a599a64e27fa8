"""step_shares: the profiled sections as shares of the step (the profiled
step itself runs in tests/test_tools/test_benchmark_train.py)."""

import pytest

from dfine_mm.testing import SectionTimer
from dfine_mm.testing.step_profile import STEP_SECTIONS, step_shares


def test_shares_in_report_order_with_the_rest_as_other():
    timer = SectionTimer('cpu')
    timer.inclusive['step'] = 10.0
    timer.totals.update(backbone=2.0, backward=5.0, optimizer=1.0)
    timer.totals['step'] = 1.5  # the step's own time: part of 'other'
    shares = step_shares(timer)
    assert list(shares) == [*STEP_SECTIONS, 'other']
    assert shares['backbone'] == 0.2
    assert shares['backward'] == 0.5
    assert shares['data'] == 0.0  # a section that never ran
    assert shares['other'] == pytest.approx(0.2)
