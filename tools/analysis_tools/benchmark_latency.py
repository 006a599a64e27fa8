"""Inference latency of a D-FINE config, side by side with transformers'
D-FINE or with the original D-FINE code.

Examples::

    python tools/analysis_tools/benchmark_latency.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --deploy --compare-transformers
    # on a GPU in fp16, against a checkout of Peterande/D-FINE
    python tools/analysis_tools/benchmark_latency.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --deploy --compare-official ../D-FINE --device cuda --fp16

Batch 1, 640x640 (``--size``), ``--threads`` CPU threads (default 2), the
median of ``--runs`` timed runs after ``--warmup`` runs, eval mode, no
gradients. With ``--compare-transformers`` both models run with the same
weights in the same process (transformers' random initialisation, perturbed,
converted into dfine_mm), alternating run by run so that machine noise hits
both alike; both times and the ratio are printed. ``--compare-official
PATH`` does the same with the original D-FINE model built from the
checkout at PATH (its variant's YAML settings, the eval size set to
``--size``; ``--deploy`` also calls its ``deploy()``). Timings cover the
network forward (outputs: logits and boxes), not pre/post-processing.

``--device cuda`` times on the GPU (each run waits for its kernels);
``--fp16`` runs every forward under fp16 autocast (the original's model
cannot be cast to half as a whole: it keeps its precomputed position
embeddings in plain fp32 attributes).
"""

import argparse
from typing import Callable, Dict

import torch
from mmengine.config import Config
from mmengine.logging import print_log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('--checkpoint', help='dfine_mm checkpoint to load')
    parser.add_argument(
        '--deploy', action='store_true', help='time after switch_to_deploy()'
    )
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument(
        '--compare-transformers',
        action='store_true',
        help="also time transformers' DFineForObjectDetection (same weights)",
    )
    reference.add_argument(
        '--compare-official',
        metavar='PATH',
        help='also time the original D-FINE model (same weights) from a '
        'checkout of Peterande/D-FINE at PATH',
    )
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--fp16', action='store_true', help='fp16 autocast')
    args = parser.parse_args(argv)
    if args.compare_official:  # before building anything
        from dfine_mm.testing.official_dfine import check_official_option

        check_official_option(parser, args.compare_official)
    compared = args.compare_transformers or args.compare_official
    if args.checkpoint and compared:
        parser.error(
            '--checkpoint cannot be combined with a comparison: the compared '
            "models share the reference's random weights"
        )
    return args


def build_models(args):
    """The dfine_mm model and, if asked, the reference (transformers' or
    the original's) with its weights; both in eval mode."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import dfine_mm  # noqa: F401
    from dfine_mm.converters.dfine import (
        convert_dfine_state_dict,
        detect_variant,
    )

    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None  # timing needs no ImageNet weights
    model = MODELS.build(cfg.model).eval()
    num_classes = cfg.model.bbox_head.num_classes
    reference = None
    if args.compare_transformers or args.compare_official:
        from dfine_mm.testing import build_transformers_dfine, perturb_

        variant = detect_variant(model.state_dict())
        torch.manual_seed(0)
        if args.compare_official:
            from dfine_mm.testing.official_dfine import build_official_dfine

            reference, _ = build_official_dfine(
                args.compare_official, variant, num_classes, args.size
            )
        else:
            reference = build_transformers_dfine(variant, num_classes)
        perturb_(reference, scale=0.05)
        state_dict, _ = convert_dfine_state_dict(reference.state_dict())
        model.load_state_dict(state_dict, strict=True)
        reference.eval()
        if args.deploy and args.compare_official:
            reference.deploy()
    elif args.checkpoint:
        from mmengine.runner import load_checkpoint

        load_checkpoint(model, args.checkpoint, map_location='cpu')
    else:
        model.init_weights()
    if args.deploy:
        model.switch_to_deploy()
    model = model.to(args.device)
    if reference is not None:
        reference = reference.to(args.device)
    return model, reference


def runners(args, model, reference) -> Dict[str, Callable[[], object]]:
    """Name to a function of no arguments running one forward."""
    image = torch.rand(1, 3, *args.size).to(args.device)
    forwards = {'dfine_mm': lambda: model(image, None, mode='tensor')}
    if args.compare_transformers:
        forwards['transformers'] = lambda: reference(pixel_values=image)
    elif args.compare_official:
        forwards['official'] = lambda: reference(image)
    cuda = args.device.startswith('cuda')

    def timed_form(forward):
        def run():
            with torch.autocast(
                args.device.split(':')[0], torch.float16, enabled=args.fp16
            ):
                output = forward()
            if cuda:  # the kernels the forward queued
                torch.cuda.synchronize(args.device)
            return output

        return run

    return {name: timed_form(f) for name, f in forwards.items()}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model, reference = build_models(args)
    from dfine_mm.testing import alternating_medians

    medians = alternating_medians(
        runners(args, model, reference), args.warmup, args.runs
    )
    mode = 'deploy' if args.deploy else 'train-form'
    precision = 'fp16 autocast' if args.fp16 else 'fp32'
    lines = [
        f'{args.config}: batch 1, {args.size[0]}x{args.size[1]}, '
        f'{args.device} {precision}, {args.threads} threads, median of '
        f'{args.runs} runs'
    ]
    lines.append(f'  dfine_mm ({mode}): {medians["dfine_mm"]:.1f} ms')
    for name in ('transformers', 'official'):
        if name in medians:
            ratio = medians['dfine_mm'] / medians[name]
            lines.append(f'  {name + ":":17s} {medians[name]:.1f} ms')
            lines.append(f'  ratio dfine_mm / {name}: {ratio:.3f}')
    print_log('\n'.join(lines), logger='current')
    return medians


if __name__ == '__main__':
    main()
