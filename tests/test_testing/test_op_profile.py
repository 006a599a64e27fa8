"""op_table: the operators ranked by their time per step (on the CPU by
OperatorClock, a dispatch mode)."""

import pytest
import torch

from dfine_mm.testing.op_profile import (
    OperatorClock,
    alternating_op_tables,
    op_table,
)


def test_op_table_ranks_the_operators_per_step():
    a = torch.randn(256, 256)
    b = torch.randn(8, 8)

    def step():
        (a @ a).relu()
        for _ in range(3):  # three small calls per step
            b.add(1)

    table = op_table(step, runs=2, count=50)
    ops = {name: (ms, calls) for name, ms, calls in table['ops']}
    assert ops['aten::mm'][1] == 1.0  # calls per step, not per 2 steps
    assert ops['aten::add'][1] == 3.0
    times = [ms for _, ms, _ in table['ops']]
    assert times == sorted(times, reverse=True) and times[-1] > 0
    assert table['self_ms'] == pytest.approx(sum(times))  # all listed
    # no assertion on which operator is slowest: a context switch under
    # pytest-xdist made three 8x8 adds outlast a 256-cube product once
    assert len(op_table(step, runs=1, count=2)['ops']) == 2


def test_op_table_needs_a_step():
    with pytest.raises(ValueError, match='runs must be at least 1'):
        op_table(lambda: None, runs=0, count=3)


def test_alternating_op_tables_take_turns_and_average_the_rounds():
    order = []
    a = torch.randn(128, 128)

    def first():
        order.append('first')
        a @ a

    def second():
        order.append('second')
        for _ in range(2):
            a.add(1)

    tables = alternating_op_tables(
        dict(first=first, second=second), rounds=3, count=10
    )
    assert order == ['first', 'second', 'second', 'first', 'first', 'second']
    first_ops = {name: calls for name, _, calls in tables['first']['ops']}
    second_ops = {name: calls for name, _, calls in tables['second']['ops']}
    assert first_ops['aten::mm'] == 1.0 and 'aten::mm' not in second_ops
    assert second_ops['aten::add'] == 2.0  # per step, averaged
    for table in tables.values():
        listed = sum(ms for _, ms, _ in table['ops'])
        assert 0 < listed <= table['self_ms'] * (1 + 1e-9)  # float sums
    with pytest.raises(ValueError, match='rounds must be at least 1'):
        alternating_op_tables(dict(first=first), rounds=0, count=1)


def test_operator_clock_sees_the_backward_operators():
    """The autograd engine's operators are timed too, each call once (the
    operators a composite one calls inside are not counted again)."""
    weight = torch.randn(16, 3, 3, 3, requires_grad=True)
    images = torch.randn(2, 3, 32, 32)
    with OperatorClock() as clock:
        torch.nn.functional.conv2d(images, weight).sum().backward()
    assert clock.calls['aten::convolution'] == 1
    assert clock.calls['aten::convolution_backward'] == 1
    assert clock.ms['aten::convolution_backward'] > 0
    assert not any('mkldnn' in name for name in clock.calls)
    table = op_table(
        lambda: torch.nn.functional.conv2d(images, weight), 2, None
    )
    names = [name for name, _, _ in table['ops']]
    assert 'aten::convolution' in names and not any(
        'mkldnn' in name for name in names
    )  # the clock, not torch.profiler (which lists the kernel's op too)
