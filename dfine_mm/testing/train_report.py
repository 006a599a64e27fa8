"""The report of ``tools/analysis_tools/benchmark_train.py``."""

import os
from argparse import Namespace
from typing import Dict, List, Optional


def _header(args: Namespace) -> str:
    what = (f'top {args.ops} operators by time, mean of {args.runs} '
            f'steps{" taking turns" if args.paired else ""}' if args.ops else
            f'median of {args.runs}')  # fmt: skip
    return (
        f'{os.path.basename(args.config)}: training step (forward + loss + '
        f'backward), batch {args.batch}, {args.size}x{args.size}, '
        f'{args.device}{" amp" if args.amp else ""}'
        f'{", dfine_mm channels-last" if args.channels_last else ""}'
        f'{", dfine_mm compiled" if args.compile else ""}, '
        f'{args.threads} threads, {what}'
    )


def _implementation(args: Namespace, name: str, result: Dict) -> List[str]:
    if 'ops' in result:
        lines = [f'  {name:13s} {result["self_ms"]:8.0f} ms in operators '
                 'per step, of which:']  # fmt: skip
        lines += [
            f'    {op[:58]:58s} {ms:8.1f} ms {calls:7.1f} calls'
            for op, ms, calls in result['ops']
        ]
        return lines
    if 'shares' in result:
        lines = [f'  {name:13s} {result["time"] * 1000:8.0f} ms per step, '
                 'with the optimizer step (profiled), shares:']  # fmt: skip
        lines += [
            f'    {section:10s} {share * 100:5.1f}%'
            for section, share in result['shares'].items()
        ]
        return lines
    memory = ('(not measured: --paired)' if args.paired else
              f'+{result["memory"]:7.0f} MiB')  # fmt: skip
    host = ''
    if 'faults' in result:
        host = (
            f', {result["faults"]:.0f} page faults and '
            f'{result["system"] * 1000:.0f} ms system time per step'
        )
    return [
        f'  {name:13s} {result["time"] * 1000:8.0f} ms   peak memory '
        f'{memory}{host}'
    ]


def report_lines(
    args: Namespace, results: Dict[str, Dict], reference: Optional[str]
) -> List[str]:
    """The lines ``benchmark_train.py`` logs for its ``results`` (one entry
    per implementation, and ``'paired'`` with ``--paired``)."""
    lines = [_header(args)]
    for name, result in results.items():
        if name != 'paired':
            lines += _implementation(args, name, result)
    prefix = f'  ratio (dfine_mm / {reference}):'
    if 'paired' in results:
        ratios = ', '.join(f'{r:.2f}' for r in results['paired']['ratios'])
        lines.append(
            f'{prefix} time {results["paired"]["ratio"]:.3f}x, the median '
            f"of the rounds' ratios ({ratios})"
        )
    elif reference and args.ops:
        ours, theirs = results['dfine_mm'], results[reference]
        ratio = ours['self_ms'] / theirs['self_ms']
        lines.append(f'{prefix} operator time {ratio:.3f}x')
    elif reference and not args.profile:
        ours, theirs = results['dfine_mm'], results[reference]
        lines.append(
            f'{prefix} time {ours["time"] / theirs["time"]:.3f}x, memory '
            f'{ours["memory"] / theirs["memory"]:.3f}x'
        )
    return lines
