"""Where a step's time goes, operator by operator
(``tools/analysis_tools/benchmark_train.py --ops N``)."""

import time
from collections import defaultdict
from typing import Callable, Dict, Optional

from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode


class OperatorClock(TorchDispatchMode):
    """Wall time and calls of each ATen operator dispatched under it (the
    operators the autograd engine runs in the backward pass included),
    keyed ``'aten::<name>'``.

    Each call is timed as a whole; what it calls inside is not seen again,
    so the times add up to the step's time in operators. Unlike
    :mod:`torch.profiler` on the CPU it records nothing per call but two
    numbers: the profiler's own records made a D-FINE-S step fault in 50x
    more fresh memory pages, which inflated memory-bound operators up to
    10x (docs/benchmarks.md).
    """

    def __init__(self) -> None:
        super().__init__()
        self.ms: Dict[str, float] = defaultdict(float)
        self.calls: Dict[str, int] = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        name = f'aten::{func.overloadpacket.__name__}'
        self.ms[name] += 1000.0 * (time.perf_counter() - start)
        self.calls[name] += 1
        return out


def op_table(
    step: Callable[[], object],
    runs: int,
    count: Optional[int],
    device: str = 'cpu',
) -> Dict:
    """Time the operators of ``runs`` calls of ``step`` and rank them.

    On the CPU each operator's wall time as :class:`OperatorClock` measures
    it; with a CUDA ``device`` :mod:`torch.profiler`'s self time of the
    kernels on the device (the step should wait for its kernels, see
    :func:`~dfine_mm.testing.timing.synced`). Either way the rows add up
    to at most the step's total.

    Args:
        step (callable): Runs one step (already warmed up).
        runs (int): Timed steps (>= 1); the numbers are per step.
        count (int, optional): How many of the top operators to list; None
            lists all.
        device (str): ``'cpu'`` or a CUDA device. Defaults to ``'cpu'``.

    Returns:
        dict: ``self_ms``, the step's total time in operators (ms per
        step), and ``ops``, ``[name, ms per step, calls per step]`` of the
        top ``count`` operators, slowest first.
    """
    if runs < 1:
        raise ValueError(f'runs must be at least 1, got {runs}')
    if device.startswith('cuda'):
        activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
        with profile(activities=activities) as prof:
            for _ in range(runs):
                step()
        field = 'self_device_time_total'
        times = {e.key: (getattr(e, field) / 1000.0, e.count)
                 for e in prof.key_averages()
                 if getattr(e, field) > 0}  # fmt: skip
    else:
        with OperatorClock() as clock:
            for _ in range(runs):
                step()
        times = {name: (ms, clock.calls[name])
                 for name, ms in clock.ms.items() if ms > 0}  # fmt: skip
    ranked = sorted(times.items(), key=lambda kv: -kv[1][0])
    return dict(
        self_ms=sum(ms for ms, _ in times.values()) / runs,
        ops=[[name, ms / runs, calls / runs]
             for name, (ms, calls) in ranked[:count]],
    )  # fmt: skip


def alternating_op_tables(
    steps: Dict[str, Callable[[], object]],
    rounds: int,
    count: int,
    device: str = 'cpu',
) -> Dict[str, Dict]:
    """:func:`op_table` of several steps run in one process, taking turns
    (each round runs every step once, each profiled on its own; the order
    flips every round), averaged over the rounds: a slow spell of the
    machine hits all of them alike, as in
    :func:`~dfine_mm.testing.timing.alternating_times`.

    Args:
        steps (dict[str, callable]): The steps by name (already warmed up).
        rounds (int): Rounds (>= 1).
        count (int): How many of each step's top operators to list.
        device (str): ``'cpu'`` or a CUDA device. Defaults to ``'cpu'``.

    Returns:
        dict[str, dict]: Per step, ``self_ms`` and ``ops`` as
        :func:`op_table` gives them, per step and averaged over the rounds.
    """
    if rounds < 1:
        raise ValueError(f'rounds must be at least 1, got {rounds}')
    totals = dict.fromkeys(steps, 0.0)
    ops = {name: defaultdict(lambda: [0.0, 0.0]) for name in steps}
    names = list(steps)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            table = op_table(steps[name], 1, None, device)
            totals[name] += table['self_ms'] / rounds
            for op, ms, calls in table['ops']:
                ops[name][op][0] += ms / rounds
                ops[name][op][1] += calls / rounds
    result = {}
    for name in names:
        ranked = sorted(ops[name].items(), key=lambda kv: -kv[1][0])
        result[name] = dict(
            self_ms=totals[name],
            ops=[[op, ms, calls] for op, (ms, calls) in ranked[:count]],
        )
    return result
