"""Training-step time and peak memory of a D-FINE config, side by side
with transformers' D-FINE and its loss or with the original D-FINE code.

Examples::

    python tools/analysis_tools/benchmark_train.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --compare-transformers
    # the original: a checkout of Peterande/D-FINE
    python tools/analysis_tools/benchmark_train.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --compare-official ../D-FINE --device cuda --amp --batch 8

Batch 2 (``--batch``), 640x640 (``--size``), ``--threads`` CPU threads,
fixed random images and targets (``--boxes`` per image), train mode with
denoising. One step = forward + losses + backward. The time is the median
of ``--runs`` steps after ``--warmup`` (on CUDA: waiting for each step's
kernels); the peak memory is how far the resident set (on CUDA: the memory
PyTorch allocated on the device) peaks above its size before those steps
(each implementation runs in its own fresh process, one after the other,
so the peaks do not mix), and the process's minor page faults and system
(kernel) time per step are listed with it. With ``--compare-transformers``
both models have the same weights (transformers' random initialisation,
perturbed, converted into dfine_mm) and the ratios dfine_mm / transformers
are printed. ``--compare-official PATH`` does the same with the original
D-FINE model and criterion (``DFINE`` + ``DFINECriterion`` built from the
variant's YAML files in the checkout at PATH, see
:mod:`dfine_mm.testing.official_dfine`); with ``--amp`` its model runs
under autocast and its criterion in fp32, as its training loop does.

``--profile`` splits dfine_mm's step into data preprocessing, backbone,
neck (hybrid encoder), decoder (query selection, decoder layers), matching
(the GO-LSD loss's Hungarian matchings), other losses, backward and an AdamW
step: exclusive wall times as shares of the step, summed over ``--runs``
steps, synchronised at each boundary on CUDA (data loading and the pipeline
are not part of it: the inputs are fixed). ``--device cuda`` runs on the
GPU; ``--amp`` autocasts the forward passes (fp16 on CUDA, bf16 on the
CPU); ``--channels-last``: dfine_mm's convolutions in channels-last memory
format (``DFineChannelsLastHook``, as in training);
``--compile``: its backbone and neck compiled (``DFineCompileHook``).
``--paired`` runs both steps in one process, taking turns step by step
(``--warmup`` untimed rounds, then ``--runs`` rounds), and reports the median
of the rounds' time ratios: a slow spell of a noisy machine hits both sides
of a round alike. The two models share the process, so no memory is measured.
``--ops N`` replaces the timing by ``--runs`` timed steps and lists the top
N ATen operators by time per step (on the CPU each call's wall time, taken
by a dispatch mode, ``OperatorClock``: torch.profiler's records fault in
fresh memory and inflate memory-bound operators there; on CUDA the kernels'
time from torch.profiler), with each implementation's total; with a
reference both steps run in one process taking turns (as ``--paired``; each
step timed on its own), and the ratio of the totals is printed.
"""

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument(
        '--compare-transformers', action='store_true',
        help="also measure transformers' DFineForObjectDetection + loss",
    )  # fmt: skip
    reference.add_argument(
        '--compare-official', metavar='PATH',
        help='also measure the original D-FINE model + criterion from a '
        'checkout of Peterande/D-FINE at PATH')  # fmt: skip
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--boxes', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--profile', action='store_true',
        help="dfine_mm's step by section, as shares of the step",
    )  # fmt: skip
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument(
        '--amp', action='store_true',
        help='autocast: fp16 on CUDA, bf16 on the CPU',
    )  # fmt: skip
    parser.add_argument(
        '--channels-last', action='store_true',
        help="dfine_mm's backbone and neck convolutions in channels-last "
        'memory format (DFineChannelsLastHook)',
    )  # fmt: skip
    parser.add_argument(
        '--compile', action='store_true',
        help="dfine_mm's backbone and neck compiled (DFineCompileHook)",
    )  # fmt: skip
    parser.add_argument(
        '--paired', action='store_true',
        help='both steps in one process, taking turns step by step; the '
        "time ratio is the median of the rounds' ratios (no memory)",
    )  # fmt: skip
    parser.add_argument(
        '--ops', type=int, default=0, metavar='N',
        help='instead of timing: the top N operators of each step by time '
        '(over --runs steps)',
    )  # fmt: skip
    parser.add_argument(  # internal: measure one implementation (or both)
        '--worker', help=argparse.SUPPRESS,
        choices=('dfine_mm', 'transformers', 'official', 'paired'),
    )  # fmt: skip
    args = parser.parse_args(argv)
    # the workers read these paths: refuse a missing one before starting
    if not os.path.isfile(args.config):
        parser.error(f'config {args.config} does not exist: pass the path '
                     'of a config file, e.g. configs/dfine/'
                     'dfine-s_hgnetv2-b0_4xb8-132e_coco.py')  # fmt: skip
    if args.compare_official:
        from dfine_mm.testing.official_dfine import check_official_option

        check_official_option(parser, args.compare_official)
    if args.paired and not (args.compare_transformers
                            or args.compare_official):  # fmt: skip
        parser.error(
            '--paired compares two steps: add '
            '--compare-transformers or --compare-official PATH'
        )
    if args.profile and args.compile:  # its timers wrap the parts' forward
        parser.error('--profile cannot time compiled parts: drop --compile')
    if args.ops and args.profile:
        parser.error('--ops and --profile cannot be combined: the '
                     "profiled step's timers would show among the "
                     'operators')  # fmt: skip
    if args.paired and args.profile:
        parser.error('--paired and --profile cannot be combined: profile '
                     "dfine_mm's step on its own")  # fmt: skip
    if args.ops and (args.compare_transformers or args.compare_official):
        args.paired = True  # both steps in one process, taking turns
    return args


def build(args):
    """dfine_mm's model and the reference's (transformers' or, with
    ``--compare-official``, the original's) with the same weights, and the
    original's criterion (None for transformers, whose model computes its
    loss)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import dfine_mm  # noqa: F401
    from dfine_mm.converters.dfine import (
        convert_dfine_state_dict,
        detect_variant,
    )
    from dfine_mm.testing import build_transformers_dfine, perturb_

    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    variant = detect_variant(model.state_dict())
    num_classes = cfg.model.bbox_head.num_classes
    torch.manual_seed(0)
    criterion = None
    if args.compare_official:
        from dfine_mm.testing.official_dfine import build_official_dfine

        reference, criterion = build_official_dfine(
            args.compare_official, variant, num_classes
        )
    else:
        reference = build_transformers_dfine(variant, num_labels=num_classes)
    perturb_(reference, scale=0.05)
    state_dict, _ = convert_dfine_state_dict(reference.state_dict())
    model.load_state_dict(state_dict, strict=True)
    model = model.to(args.device)  # as a runner's hooks find it
    if args.channels_last:
        from types import SimpleNamespace

        from dfine_mm.engine.hooks import DFineChannelsLastHook

        DFineChannelsLastHook().before_run(SimpleNamespace(model=model))
    if args.compile:  # the first (warm-up) step compiles
        from dfine_mm.engine.hooks import compile_parts

        compile_parts(model)
    return model.train(), reference.to(args.device).train(), criterion


def _autocast(args):
    """``--amp``: fp16 autocast on CUDA, bf16 on the CPU (its autocast
    type; mmengine's AmpOptimWrapper trains on CUDA only)."""
    if not args.amp:
        return contextlib.nullcontext()
    device_type = args.device.split(':')[0]
    dtype = torch.bfloat16 if device_type == 'cpu' else torch.float16
    return torch.autocast(device_type, dtype=dtype)


def step_fn(args, which, timer=None, built=None):
    """A closure running one forward + loss + backward (with ``timer``, a
    :class:`SectionTimer`, also the optimizer step, every section timed) of
    ``built`` (what :func:`build` returned; built here when None)."""
    from dfine_mm.testing.train_batch import (
        det_samples_of,
        fixed_train_batch,
    )

    model, reference, criterion = built or build(args)
    images, targets = fixed_train_batch(
        args.batch, args.size, args.boxes, model.bbox_head.num_classes
    )
    images = images.to(args.device)
    targets = [(b.to(args.device), c.to(args.device)) for b, c in targets]
    if which == 'official':
        official_targets = [dict(labels=c, boxes=b) for b, c in targets]
        device_type = args.device.split(':')[0]

        def step():
            reference.zero_grad(set_to_none=True)
            with _autocast(args):
                outputs = reference(images, targets=official_targets)
            with torch.autocast(device_type, enabled=False):
                losses = criterion(outputs, official_targets)
            sum(losses.values()).backward()

        return step
    if which == 'transformers':
        labels = [dict(class_labels=c, boxes=b) for b, c in targets]

        def step():
            reference.zero_grad(set_to_none=True)
            with _autocast(args):
                loss = reference(pixel_values=images, labels=labels).loss
            loss.backward()

        return step
    samples = det_samples_of(targets, args.size)
    if timer is not None:
        from dfine_mm.testing.step_profile import profiled_training_step

        step = profiled_training_step(
            model, images, samples, timer, lambda: _autocast(args)
        )
    else:

        def step():
            model.zero_grad(set_to_none=True)
            with _autocast(args):
                losses = model.loss(images, samples)
            sum(losses.values()).backward()

    # the memory format the convolutions train in, read from the model
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    step.channels_last = all(
        m.weight.is_contiguous(memory_format=torch.channels_last)
        for m in convs
    )
    return step


def measure(args, which):
    """Median step time (s) and peak-RSS growth (MiB) in this process
    (with ``--profile``, dfine_mm's shares of the step by section)."""
    from dfine_mm.testing import CudaPeakMemoryGrowth, PeakMemoryGrowth
    from dfine_mm.testing.section_timer import SectionTimer
    from dfine_mm.testing.timing import synced

    torch.set_num_threads(args.threads)
    if which == 'paired':
        return measure_paired(args)
    if args.profile and which == 'dfine_mm':
        timer = SectionTimer(args.device)
        step = step_fn(args, which, timer)
        for _ in range(args.warmup):
            step()
        timer.totals.clear()
        timer.inclusive.clear()
        for _ in range(args.runs):
            step()
        from dfine_mm.testing.step_profile import step_shares

        return dict(time=timer.inclusive['step'] / args.runs,
                    memory=float('nan'), shares=step_shares(timer),
                    channels_last=step.channels_last)  # fmt: skip
    step = step_fn(args, which)
    layout = getattr(step, 'channels_last', None)  # dfine_mm's only
    step = synced(step, args.device)
    if args.ops:
        from dfine_mm.testing.op_profile import op_table

        for _ in range(args.warmup):
            step()
        table = op_table(step, args.runs, args.ops, args.device)
        return dict(table, channels_last=layout)
    cuda = args.device.startswith('cuda')
    times = []
    memory = CudaPeakMemoryGrowth(args.device) if cuda else PeakMemoryGrowth()
    with memory:
        for _ in range(args.warmup):
            step()
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.runs):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_SELF)
    # the host's page faults and kernel time (glibc returning and mapping
    # memory again: docs/training.md, DFineMallocHook), per step
    faults = (after.ru_minflt - before.ru_minflt) / args.runs
    system = (after.ru_stime - before.ru_stime) / args.runs
    return dict(time=statistics.median(times), memory=memory.mib,
                faults=faults, system=system,
                channels_last=layout)  # fmt: skip


def measure_paired(args):
    """``--paired``: dfine_mm's and the reference's steps take turns in
    this process; their median times (s) and the per-round time ratios."""
    from dfine_mm.testing import alternating_times, medians, paired_ratios
    from dfine_mm.testing.timing import synced

    reference = 'official' if args.compare_official else 'transformers'
    built = build(args)  # both models, the same weights, built once
    ours = step_fn(args, 'dfine_mm', built=built)
    steps = {'dfine_mm': synced(ours, args.device),
             reference: synced(step_fn(args, reference, built=built),
                                args.device)}  # fmt: skip
    if args.ops:
        from dfine_mm.testing.op_profile import alternating_op_tables

        for _ in range(args.warmup):
            for step in steps.values():
                step()
        result = alternating_op_tables(steps, args.runs, args.ops,
                                       args.device)  # fmt: skip
        result['dfine_mm']['channels_last'] = ours.channels_last
        return result
    times = alternating_times(steps, args.warmup, args.runs, inference=False)
    result = {name: dict(time=ms / 1000, memory=float('nan'))
              for name, ms in medians(times).items()}  # fmt: skip
    result['dfine_mm']['channels_last'] = ours.channels_last
    ratios = paired_ratios(times, 'dfine_mm', reference)
    result['paired'] = dict(ratios=ratios, ratio=statistics.median(ratios))
    return result


def run_worker(args, which):
    command = [sys.executable, os.path.abspath(__file__), args.config]
    for name in ('batch', 'size', 'boxes', 'threads', 'runs', 'warmup',
                 'device'):  # fmt: skip
        command += [f'--{name}', str(getattr(args, name))]
    if args.compare_official:
        command += ['--compare-official', args.compare_official]
    elif args.compare_transformers:
        command += ['--compare-transformers']
    command += ['--worker', which, '--ops', str(args.ops)]
    command += [f'--{f.replace("_", "-")}'
                for f in ('profile', 'amp', 'channels_last', 'compile')
                if getattr(args, f)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:  # its traceback's end, not just the exit status
        raise RuntimeError(
            f'the {which} worker failed ({" ".join(command)}):\n'
            + done.stderr[-3000:]
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args, args.worker)))
        return None
    from mmengine.logging import print_log

    from dfine_mm.testing.train_report import report_lines

    reference = ('transformers' if args.compare_transformers else
                 'official' if args.compare_official else None)  # fmt: skip
    if args.paired:
        results = run_worker(args, 'paired')
    else:
        names = ['dfine_mm'] + ([reference] if reference else [])
        results = {name: run_worker(args, name) for name in names}
    lines = report_lines(args, results, reference)
    print_log('\n'.join(lines), logger='current')
    return results


if __name__ == '__main__':
    main()
