"""Where a step's time goes, operator by operator
(``tools/analysis_tools/benchmark_train.py --ops N``)."""

from collections import defaultdict
from typing import Callable, Dict, Optional

from torch.profiler import ProfilerActivity, profile


def op_table(
    step: Callable[[], object],
    runs: int,
    count: Optional[int],
    device: str = 'cpu',
) -> Dict:
    """Profile ``runs`` calls of ``step`` with :mod:`torch.profiler` and
    rank the operators by self time.

    Self time is an operator's own time without the operators it calls, so
    the rows add up to at most the step's total. On the CPU it is host time;
    with a CUDA ``device`` the kernels' device time (the step should wait
    for its kernels, see :func:`~dfine_mm.testing.timing.synced`).

    Args:
        step (callable): Runs one step (already warmed up).
        runs (int): Profiled steps (>= 1); the numbers are per step.
        count (int, optional): How many of the top operators to list; None
            lists all.
        device (str): ``'cpu'`` or a CUDA device. Defaults to ``'cpu'``.

    Returns:
        dict: ``self_ms``, the step's total self time (ms per step), and
        ``ops``, ``[name, self ms per step, calls per step]`` of the top
        ``count`` operators, slowest first.
    """
    if runs < 1:
        raise ValueError(f'runs must be at least 1, got {runs}')
    cuda = device.startswith('cuda')
    activities = [ProfilerActivity.CPU]
    if cuda:
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for _ in range(runs):
            step()
    field = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    events = [e for e in prof.key_averages() if getattr(e, field) > 0]
    events.sort(key=lambda e: getattr(e, field), reverse=True)
    per_step = 1000.0 * runs  # profiler microseconds -> ms per step
    return dict(
        self_ms=sum(getattr(e, field) for e in events) / per_step,
        ops=[
            [e.key, getattr(e, field) / per_step, e.count / runs]
            for e in events[:count]
        ],
    )


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
