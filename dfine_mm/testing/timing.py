"""Side-by-side timing for the benchmark tools."""

import statistics
import time
from typing import Callable, Dict, List

import torch


def alternating_times(
    runners: Dict[str, Callable[[], object]],
    warmup: int,
    runs: int,
    block: int = 1,
    settle: int = 0,
    inference: bool = True,
) -> Dict[str, List[List[float]]]:
    """Wall times of runners that take turns, in milliseconds.

    The runners take turns so that machine noise hits all of them alike:
    a turn runs one runner ``settle + block`` times and times the last
    ``block`` runs (``settle`` untimed runs let the previous runner's
    spin-waiting threads go idle); the first ``warmup`` rounds of turns
    are not timed. Runs under ``torch.inference_mode()`` unless
    ``inference`` is False (training steps).

    Args:
        runners (dict[str, callable]): Name to a function of no arguments.
        warmup (int): Untimed rounds.
        runs (int): Timed rounds.
        block (int): Timed runs per turn. Defaults to 1 (run by run).
        settle (int): Untimed runs at the start of each turn. Defaults
            to 0.
        inference (bool): Run under ``torch.inference_mode()``. Defaults
            to True.

    Returns:
        dict[str, list[list[float]]]: Name to ``runs`` rounds of ``block``
        milliseconds each.
    """
    times = {name: [] for name in runners}
    with torch.inference_mode(inference):
        for round_index in range(warmup + runs):
            for name, run in runners.items():
                turn = []
                for index in range(settle + block):
                    start = time.perf_counter()
                    run()
                    if index >= settle:
                        turn.append((time.perf_counter() - start) * 1000)
                if round_index >= warmup:
                    times[name].append(turn)
    return times


def alternating_medians(
    runners: Dict[str, Callable[[], object]],
    warmup: int,
    runs: int,
    block: int = 1,
    settle: int = 0,
    inference: bool = True,
) -> Dict[str, float]:
    """Median milliseconds of each runner over all timed runs of
    :func:`alternating_times` (same arguments)."""
    return medians(
        alternating_times(runners, warmup, runs, block, settle, inference)
    )


def medians(times: Dict[str, List[List[float]]]) -> Dict[str, float]:
    """Name to the median of all its timed runs (:func:`alternating_times`
    rounds)."""
    return {
        name: statistics.median(t for turn in turns for t in turn)
        for name, turns in times.items()
    }


def paired_ratios(
    times: Dict[str, List[List[float]]], numerator: str, denominator: str
) -> List[float]:
    """Per-round ratios of two runners' median times (rounds of
    :func:`alternating_times`): each pairs runs made one right after the
    other, so a slow spell of the machine that hits both cancels out."""
    return [
        statistics.median(a) / statistics.median(b)
        for a, b in zip(times[numerator], times[denominator])
    ]


def synced(step: Callable[[], object], device: str) -> Callable[[], None]:
    """``step`` that waits for its kernels on a CUDA ``device`` (on the CPU:
    ``step`` itself), so that a wall clock around it times the work."""
    if not device.startswith('cuda'):
        return step

    def run() -> None:
        step()
        torch.cuda.synchronize(device)

    return run
