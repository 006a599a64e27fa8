"""Side-by-side timing for the benchmark tools."""

import statistics
import time
from typing import Callable, Dict

import torch


def alternating_medians(
    runners: Dict[str, Callable[[], object]], warmup: int, runs: int
) -> Dict[str, float]:
    """Median wall time of each runner in milliseconds.

    The runners take turns, run by run, so that machine noise hits all of
    them alike; the first ``warmup`` rounds are not timed. Runs under
    ``torch.inference_mode()``.

    Args:
        runners (dict[str, callable]): Name to a function of no arguments.
        warmup (int): Untimed rounds.
        runs (int): Timed rounds.

    Returns:
        dict[str, float]: Name to median milliseconds.
    """
    times = {name: [] for name in runners}
    with torch.inference_mode():
        for step in range(warmup + runs):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                if step >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}
