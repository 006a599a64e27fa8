"""Side-by-side timing for the benchmark tools."""

import statistics
import time
from typing import Callable, Dict

import torch


def alternating_medians(
    runners: Dict[str, Callable[[], object]],
    warmup: int,
    runs: int,
    block: int = 1,
    settle: int = 0,
    inference: bool = True,
) -> Dict[str, float]:
    """Median wall time of each runner in milliseconds.

    The runners take turns so that machine noise hits all of them alike:
    a turn runs one runner ``settle + block`` times and times the last
    ``block`` runs (``settle`` untimed runs let the previous runner's
    spin-waiting threads go idle); the first ``warmup`` rounds of turns
    are not timed. Runs under ``torch.inference_mode()`` unless
    ``inference`` is False (training steps).

    Args:
        runners (dict[str, callable]): Name to a function of no arguments.
        warmup (int): Untimed rounds.
        runs (int): Timed rounds; each runner is timed ``runs * block``
            times.
        block (int): Timed runs per turn. Defaults to 1 (run by run).
        settle (int): Untimed runs at the start of each turn. Defaults
            to 0.
        inference (bool): Run under ``torch.inference_mode()``. Defaults
            to True.

    Returns:
        dict[str, float]: Name to median milliseconds.
    """
    times = {name: [] for name in runners}
    with torch.inference_mode(inference):
        for round_index in range(warmup + runs):
            for name, run in runners.items():
                for index in range(settle + block):
                    start = time.perf_counter()
                    run()
                    if round_index >= warmup and index >= settle:
                        times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}
