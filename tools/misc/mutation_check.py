"""Mutation check: each named single-line defect must fail a test.

Example::

    python tools/misc/mutation_check.py              # all defects
    python tools/misc/mutation_check.py --only ddf_without_temperature
    python tools/misc/mutation_check.py --list

For every defect of :data:`MUTATIONS`, the repository's ``dfine_mm``,
``tests``, ``configs``, ``tools`` and ``projects`` are copied to a
temporary folder, the one line is changed there (its text must occur
exactly once in the file, else the defect is stale and the check stops),
and the defect's tests run against the copy (``pytest -x``). The report is
the table of defects and the first test that failed; a defect that no test
catches fails the check (exit code 1).
"""

import argparse
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, NamedTuple, Optional

from mmengine.logging import print_log

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COPIED = ('dfine_mm', 'tests', 'configs', 'tools', 'projects')


class Mutation(NamedTuple):
    """One single-line defect and the tests that must catch it."""

    path: str
    line: str
    defect: str
    tests: tuple


MUTATIONS: Dict[str, Mutation] = {
    'swap_qkv_slices': Mutation(
        'dfine_mm/converters/qkv.py',
        "return torch.cat([parts[p] for p in 'qkv'], dim=0)",
        "return torch.cat([parts[p] for p in 'kqv'], dim=0)",
        ('tests/test_converters',),
    ),
    'shift_objects365_row': Mutation(
        'dfine_mm/engine/hooks/class_remap_hook.py',
        '    0, 46, 5, 58, 114, 55, 116, 65, 21, 40, 176, 127, 249, 24, 56,',
        '    0, 46, 5, 58, 114, 55, 116, 65, 21, 41, 176, 127, 249, 24, 56,',
        ('tests/test_engine/test_hooks.py',),
    ),
    'sanitize_without_clip': Mutation(
        'dfine_mm/datasets/transforms/sanitize_boxes.py',
        "boxes.clip_(results['img_shape'][:2])",
        'pass',
        ('tests/test_datasets/test_transforms',),
    ),
    'no_pipeline_switch': Mutation(
        'dfine_mm/engine/hooks/mode_switch_hook.py',
        "set_pipeline(loader.dataset, stage['pipeline'])",
        'pass',
        ('tests/test_engine/test_mode_switch_hook.py',),
    ),
    'luma_off_by_0.1': Mutation(
        'dfine_mm/datasets/transforms/photometric_distort.py',
        'return 0.114 * img[..., 0] + 0.587 * img[..., 1] + 0.299 * img',
        'return 0.214 * img[..., 0] + 0.587 * img[..., 1] + 0.299 * img',
        ('tests/test_datasets/test_transforms/test_photometric_distort.py',),
    ),
    'half_dn_box_noise': Mutation(
        'dfine_mm/models/layers/dfine_cdn_query_generator.py',
        'half = box_q[..., 2:].repeat(1, 1, 2) * 0.5 * self.box_noise_scale',
        'half = box_q[..., 2:].repeat(1, 1, 2) * 0.25 * self.box_noise_scale',
        ('tests/test_models/test_layers',),
    ),
    'no_dummy_gradient': Mutation(
        'dfine_mm/models/utils/go_lsd.py',
        'return dict(dn_loss_cls=zero)',
        'return {}',
        (
            'tests/test_models/test_utils/test_go_lsd.py',
            'tests/test_models/test_detectors/test_dfine_training.py',
        ),
    ),  # fmt: skip
    'ddf_without_temperature': Mutation(
        'dfine_mm/models/losses/ddf_loss.py',
        't = self.temperature',
        't = 1.0',
        ('tests/test_models/test_losses',),
    ),
}


def mutate(root: str, mutation: Mutation) -> None:
    """Apply one mutation to the copy at ``root``.

    Raises:
        ValueError: The line is not in the file exactly once (the source
            changed: update :data:`MUTATIONS`).
    """
    path = osp.join(root, mutation.path)
    with open(path) as file:
        text = file.read()
    count = text.count(mutation.line)
    if count != 1:
        raise ValueError(
            f'{mutation.path}: {mutation.line!r} occurs {count} times, not '
            'once: update MUTATIONS in tools/misc/mutation_check.py'
        )
    with open(path, 'w') as file:
        file.write(text.replace(mutation.line, mutation.defect))


def copy_repository(root: str) -> None:
    """Copy the parts of the repository the tests import."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', 'work_dirs')
    for name in COPIED:
        shutil.copytree(osp.join(ROOT, name), osp.join(root, name),
                        ignore=ignore)  # fmt: skip


def first_failure(output: str) -> Optional[str]:
    """The first failing test id of pytest's output, or None."""
    match = re.search(r'^(?:FAILED|ERROR) (\S+)', output, re.M)
    return match.group(1) if match else None


def run_tests(root: str, tests: tuple, timeout: float) -> tuple:
    """Run ``tests`` in ``root``: (passed, first failing test, seconds)."""
    env = dict(os.environ, PYTHONPATH=root, PYTHONDONTWRITEBYTECODE='1')
    start = time.time()
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-x', '-q', '-p',
         'no:cacheprovider', '-rfE', *tests],
        cwd=root, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    return proc.returncode == 0, first_failure(output), time.time() - start


def check(names: List[str], timeout: float) -> List[dict]:
    """Apply each mutation in a fresh copy and run its tests."""
    rows = []
    for name in names:
        mutation = MUTATIONS[name]
        with tempfile.TemporaryDirectory() as root:
            copy_repository(root)
            mutate(root, mutation)
            passed, failure, seconds = run_tests(root, mutation.tests, timeout)
        rows.append(dict(name=name, caught=not passed, failure=failure,
                         seconds=round(seconds, 1)))  # fmt: skip
        status = f'caught by {failure}' if not passed else 'NOT CAUGHT'
        print_log(f'{name}: {status} ({seconds:.0f} s)', logger='current')
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--only', nargs='+', choices=sorted(MUTATIONS))
    parser.add_argument('--list', action='store_true')
    parser.add_argument('--timeout', type=float, default=1200)
    args = parser.parse_args(argv)
    if args.list:
        print_log('\n'.join(
            f'{name}: {m.path}: {m.line!r} -> {m.defect!r}'
            for name, m in MUTATIONS.items()
        ), logger='current')  # fmt: skip
        return 0
    rows = check(args.only or list(MUTATIONS), args.timeout)
    print_log('\n'.join(
        ['| defect | caught by |', '| --- | --- |'] + [
            f'| {row["name"]} | {row["failure"] or "NOT CAUGHT"} |'
            for row in rows
        ]
    ), logger='current')  # fmt: skip
    return 0 if all(row['caught'] for row in rows) else 1


if __name__ == '__main__':
    raise SystemExit(main())
