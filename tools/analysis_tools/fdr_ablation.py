"""FDR / GO-LSD ablation on DINO, Deformable-DETR and D-FINE, with seeds.

Examples::

    # the whole study (12 arms x 3 seeds), two runs at a time, one thread
    python tools/analysis_tools/fdr_ablation.py --jobs 2 --threads 1
    # a part of it; finished runs are skipped, so the study resumes
    python tools/analysis_tools/fdr_ablation.py --detectors dino \\
        --arms plain golsd --seeds 0 1 2
    # a few steps per arm on tiny data, in this process (the test suite)
    python tools/analysis_tools/fdr_ablation.py --smoke --jobs 0

Detectors and arms (every arm is a config; arms differ only in config keys):

- ``dino``: mmdet's DINO (``plain``), ``configs/dino_fdr/`` for ``fdr``,
  ``fdr_fgl`` and ``golsd`` (FGL, union matching, DDF);
- ``deformable_detr``: mmdet's Deformable-DETR with box refinement and
  two stages, ``configs/deformable_detr_fdr/`` for the FDR arms;
- ``dfine``: D-FINE-N on the demo data, ``plain`` = RT-DETR-style box
  regression (``model.fdr=False``), ``configs/dfine/ablation/`` for
  ``fdr`` and ``fdr_fgl``, the demo config itself for ``golsd``.

The protocol (data, budgets, the DETRs' small setting) is in
``ablation_protocol.py``. Every run of a detector gets the same data, budget
and schedule; only the arm and the seed change.

Each run trains with mmengine's runner in its own process (``--threads``
threads; ``--jobs`` at a time), then evaluates the boxes of every decoder
layer on the validation split, and writes
``WORK_DIR/<protocol>/<detector>_<arm>_s<seed>/result.json``
(a failed run records its error; the others go on). The study is then
collected into ``--results`` (``{"protocol": ..., "runs": [...]}``; runs
already there count as done, so a fresh checkout resumes the committed
study; with ``--jobs`` >= 1 the file is rewritten after every run) and
:mod:`ablation_report` writes the table and the figure.
"""

import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import List

from mmengine.logging import print_log

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from ablation_protocol import (  # noqa: E402
    ARMS,
    DETECTORS,
    DIAGNOSIS_ARMS,
    PROJECT_ARMS,
    ROOT,
    load_arm_config,
    make_data,
    make_protocol,
    write_run_config,
)
from ablation_report import (  # noqa: E402
    committed_runs,
    save_results,
    write_report,
)

__all__ = [
    'ARMS',
    'DETECTORS',
    'load_arm_config',
    'make_protocol',
    'write_run_config',
    'main',
    'run_one',
    'select_layer',
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--detectors', nargs='+', default=list(DETECTORS))
    parser.add_argument('--arms', nargs='+', default=list(ARMS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='runs at a time; 0 runs them in this process',
    )
    parser.add_argument(
        '--threads', type=int, default=1, help='torch threads per run'
    )
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--work-dir', default='work_dirs/fdr_ablation')
    parser.add_argument(
        '--results',
        default='docs/ablation_results.json',
        help='with --smoke: WORK_DIR/ablation_results.json',
    )
    parser.add_argument(
        '--report-dir',
        default='docs',
        help='where ablation_table.md and ablation.png go '
        '(with --smoke: WORK_DIR)',
    )
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='tiny data, one short epoch per arm',
    )
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='override the protocol (new protocol name)',
    )
    parser.add_argument(
        '--img-size',
        type=int,
        default=None,
        help='override the protocol (new protocol name)',
    )
    parser.add_argument('--protocol-name', default=None)
    parser.add_argument('--run', nargs=4, metavar=('DETECTOR', 'ARM', 'SEED',
                        'OUT'), help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    for name in args.detectors:
        if name not in DETECTORS:
            parser.error(f'unknown detector {name!r}; valid detectors: '
                         f'{", ".join(DETECTORS)}')  # fmt: skip
    for name in args.arms:
        if name not in ARMS + DIAGNOSIS_ARMS + PROJECT_ARMS:
            parser.error(f'unknown arm {name!r}; valid arms: '
                         f'{", ".join(ARMS)} (D-FINE diagnosis: '
                         f'{", ".join(DIAGNOSIS_ARMS)}; projects: '
                         f'{", ".join(PROJECT_ARMS)})')  # fmt: skip
        hosts = [d for d in DETECTORS if name in DETECTORS[d]]
        for detector in args.detectors:
            if detector not in hosts:
                parser.error(f'arm {name!r} exists only for {hosts}, not '
                             f'{detector!r}')  # fmt: skip
    return args


def select_layer(model, index: int) -> None:
    """Make ``model`` predict with the boxes of decoder layer ``index``.

    FDR decoders (and D-FINE's) run layers up to ``eval_idx`` and score the
    last one run; mmdet's DINO / Deformable-DETR heads take the last entry
    of the layer axis, so their ``predict_by_feat`` gets the first
    ``index + 1`` layers.
    """
    if hasattr(model.decoder, 'eval_idx'):
        model.decoder.eval_idx = index
        return
    head = model.bbox_head
    original = type(head).predict_by_feat.__get__(head)

    def predict_by_feat(cls_scores, bbox_preds, *args, **kwargs):
        return original(cls_scores[: index + 1], bbox_preds[: index + 1],
                        *args, **kwargs)  # fmt: skip

    head.predict_by_feat = predict_by_feat


def run_one(config: str, work_dir: str) -> dict:
    """Train one run, then evaluate every decoder layer's boxes."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    start = time.time()
    cfg = Config.fromfile(config)
    # no yapf pass over the config text each time the runner logs or dumps
    # it (seconds per run; mmengine's fromfile drops this flag)
    cfg = Config(cfg.to_dict(), cfg_text=cfg.text, filename=config,
                 format_python_code=False)  # fmt: skip
    cfg.work_dir = work_dir
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    num_layers = model.decoder.num_layers
    layers = []
    for index in range(num_layers):
        select_layer(model, index)
        layers.append(runner.val_loop.run())
    final = layers[-1]
    return {
        'bbox_mAP': final['coco/bbox_mAP'],
        'bbox_mAP_50': final['coco/bbox_mAP_50'],
        'bbox_mAP_75': final['coco/bbox_mAP_75'],
        'layer_mAP': [m['coco/bbox_mAP'] for m in layers],
        'wall_s': round(time.time() - start, 1),
    }


def worker(detector: str, arm: str, seed: int, out: str) -> int:
    """``--run``: one run in this process; writes its result file."""
    run_dir = osp.dirname(out)
    with open(osp.join(run_dir, 'spec.json')) as file:
        spec = json.load(file)
    result = dict(
        detector=detector,
        arm=arm,
        seed=seed,
        protocol=spec['protocol']['name'],
        machine=machine(),
        threads=int(os.environ.get('OMP_NUM_THREADS', 0)),
    )
    try:
        result.update(run_one(spec['config'], run_dir))
        code = 0
    except Exception as error:  # recorded, and the study goes on
        result['error'] = f'{type(error).__name__}: {error}'
        traceback.print_exc()
        code = 1
    with open(out, 'w') as file:
        json.dump(result, file, indent=1)
    return code


def _run_env(args, slot: int) -> dict:
    env = dict(os.environ)
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                'OPENBLAS_NUM_THREADS'):  # fmt: skip
        env[key] = str(args.threads)
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def launch(args, detector: str, arm: str, seed: int, run_dir: str,
           slot: int) -> dict:  # fmt: skip
    """Run one (detector, arm, seed) in a child process with pinned
    threads (and CPU cores, when there are enough); return its result."""
    out = osp.join(run_dir, 'result.json')
    command = [sys.executable, osp.abspath(__file__), '--run', detector, arm,
               str(seed), out]  # fmt: skip
    cores = os.cpu_count() or 1
    if hasattr(os, 'sched_setaffinity') and args.jobs * args.threads <= cores:
        first = slot * args.threads
        cpus = ','.join(str(first + i) for i in range(args.threads))
        command = ['taskset', '-c', cpus, *command]
    with open(osp.join(run_dir, 'run.log'), 'w') as log:
        proc = subprocess.run(command, env=_run_env(args, slot), stdout=log,
                              stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
    if osp.isfile(out):
        with open(out) as file:
            return json.load(file)
    with open(osp.join(run_dir, 'run.log')) as file:
        tail = file.read()[-400:]
    return dict(detector=detector, arm=arm, seed=seed,
                error=f'process ended with code {proc.returncode} (killed: '
                      f'out of memory?); log tail: {tail}')  # fmt: skip


def _key(run: dict) -> tuple:
    return run['detector'], run['arm'], run['seed']


def pending_runs(
    args, protocol: dict, data_root: str, done: List[dict]
) -> List[tuple]:
    """The requested runs without a successful result of this protocol,
    neither in the work directory nor among ``done`` (committed runs)."""
    finished = {_key(r) for r in done if 'error' not in r}
    todo = []
    for detector in args.detectors:
        for arm in args.arms:
            for seed in args.seeds:
                if (detector, arm, seed) in finished:
                    continue
                name = f'{detector}_{arm}_s{seed}'
                run_dir = osp.join(args.work_dir, protocol['name'], name)
                out = osp.join(run_dir, 'result.json')
                if osp.isfile(out):
                    with open(out) as file:
                        if 'error' not in json.load(file):
                            continue
                os.makedirs(run_dir, exist_ok=True)
                config = write_run_config(
                    protocol, detector, arm, seed, data_root,
                    osp.join(run_dir, f'{name}.py'),
                )  # fmt: skip
                with open(osp.join(run_dir, 'spec.json'), 'w') as file:
                    json.dump(dict(config=config, protocol=protocol), file)
                todo.append((detector, arm, seed, run_dir))
    return todo


def collect(args, protocol: dict, done: List[dict]) -> List[dict]:
    """The committed runs ``done`` updated by every result file of this
    protocol in the work directory, in a stable order."""
    runs = {_key(r): r for r in done}
    folder = osp.join(args.work_dir, protocol['name'])
    for name in sorted(os.listdir(folder)) if osp.isdir(folder) else ():
        path = osp.join(folder, name, 'result.json')
        if osp.isfile(path):
            with open(path) as file:
                run = json.load(file)
            if 'error' not in run or _key(run) not in runs:
                runs[_key(run)] = run
    order = {name: i for i, name in enumerate(DETECTORS)}
    arms = ARMS + DIAGNOSIS_ARMS + PROJECT_ARMS
    arm_order = {name: i for i, name in enumerate(arms)}
    return sorted(
        runs.values(),
        key=lambda r: (order[r['detector']], arm_order[r['arm']], r['seed']),
    )


def machine() -> dict:
    """What the runs ran on."""
    import torch

    cpu = platform.processor()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as file:
            for line in file:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    info = dict(cpu=cpu, cores=os.cpu_count(), torch=torch.__version__)
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.run:
        detector, arm, seed, out = args.run
        return worker(detector, arm, int(seed), out)
    os.makedirs(args.work_dir, exist_ok=True)
    protocol = make_protocol(args)
    data_root = make_data(args.work_dir, protocol['data'])
    results, report_dir = args.results, args.report_dir
    if args.smoke:  # never over the committed study
        results = osp.join(args.work_dir, 'ablation_results.json')
        report_dir = args.work_dir
    done = committed_runs(results, protocol['name'])
    todo = pending_runs(args, protocol, data_root, done)
    print_log(f'{len(todo)} runs to do ({protocol["name"]})',
              logger='current')  # fmt: skip
    if args.jobs == 0:
        for detector, arm, seed, run_dir in todo:
            worker(detector, arm, seed, osp.join(run_dir, 'result.json'))
    else:
        slots = list(range(args.jobs))
        lock = threading.Lock()

        def task(item):
            slot = slots.pop()
            try:
                result = launch(args, *item, slot=slot)
            finally:
                slots.append(slot)
            status = result.get('error') or f'AP {result["bbox_mAP"]:.3f}'
            print_log(f'{item[0]} {item[1]} seed {item[2]}: {status}',
                      logger='current')  # fmt: skip
            with lock:  # the results file grows run by run
                save_results(results, protocol, collect(args, protocol, done))
            return result

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(task, todo))
    runs = collect(args, protocol, done)
    save_results(results, protocol, runs)
    write_report(results, report_dir)
    failed = [r for r in runs if 'error' in r]
    return 1 if failed else 0


if __name__ == '__main__':
    raise SystemExit(main())
