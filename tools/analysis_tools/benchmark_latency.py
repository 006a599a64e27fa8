"""CPU inference latency of a D-FINE config, side by side with transformers.

Example::

    python tools/analysis_tools/benchmark_latency.py \
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py \
        --deploy --compare-transformers

Batch 1, 640x640 (``--size``), ``--threads`` CPU threads (default 2), the
median of ``--runs`` timed runs after ``--warmup`` runs, eval mode, no
gradients. With ``--compare-transformers`` both models run with the same
weights in the same process (transformers' random initialisation, perturbed,
converted into dfine_mm), alternating run by run so that machine noise hits
both alike; both times and the ratio are printed. Timings cover the network
forward (outputs: logits and boxes), not pre/post-processing.
"""

import argparse

import torch
from mmengine.config import Config
from mmengine.logging import print_log


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('--checkpoint', help='dfine_mm checkpoint to load')
    parser.add_argument(
        '--deploy', action='store_true', help='time after switch_to_deploy()'
    )
    parser.add_argument(
        '--compare-transformers',
        action='store_true',
        help="also time transformers' DFineForObjectDetection (same weights)",
    )
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    return parser.parse_args()


def build_models(args):
    """The dfine_mm model and, if asked, transformers' with its weights."""
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
    reference = None
    if args.compare_transformers:
        from dfine_mm.testing import build_transformers_dfine, perturb_

        variant = detect_variant(model.state_dict())
        reference = build_transformers_dfine(
            variant, num_labels=cfg.model.bbox_head.num_classes
        )
        perturb_(reference, scale=0.05)
        state_dict, _ = convert_dfine_state_dict(reference.state_dict())
        model.load_state_dict(state_dict, strict=True)
    elif args.checkpoint:
        from mmengine.runner import load_checkpoint

        load_checkpoint(model, args.checkpoint, map_location='cpu')
    else:
        model.init_weights()
    if args.deploy:
        model.switch_to_deploy()
    return model, reference


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    model, reference = build_models(args)
    image = torch.rand(1, 3, *args.size)
    runners = {'dfine_mm': lambda: model(image, None, mode='tensor')}
    if reference is not None:
        runners['transformers'] = lambda: reference(pixel_values=image)
    from dfine_mm.testing import alternating_medians

    medians = alternating_medians(runners, args.warmup, args.runs)
    mode = 'deploy' if args.deploy else 'train-form'
    lines = [
        f'{args.config}: batch 1, {args.size[0]}x{args.size[1]}, '
        f'{args.threads} threads, median of {args.runs} runs'
    ]
    lines.append(f'  dfine_mm ({mode}): {medians["dfine_mm"]:.1f} ms')
    if 'transformers' in medians:
        ratio = medians['dfine_mm'] / medians['transformers']
        lines.append(f'  transformers:     {medians["transformers"]:.1f} ms')
        lines.append(f'  ratio dfine_mm / transformers: {ratio:.3f}')
    print_log('\n'.join(lines), logger='current')


if __name__ == '__main__':
    main()
