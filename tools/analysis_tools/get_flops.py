"""Parameters and FLOPs of a D-FINE config in deploy mode.

Example::

    python tools/analysis_tools/get_flops.py \
        configs/dfine/dfine-l_hgnetv2-b4_4xb8-80e_coco.py

Counts with mmengine's ``FlopAnalyzer`` on the network forward (logits and
boxes, no post-processing), batch 1 at ``--shape`` (default 640 640), after
``switch_to_deploy(fuse_backbone=False)``, the form of the original's
``deploy()`` that its ``get_info.py`` counts (``--fuse-backbone`` also
folds the backbone's norms). mmengine
counts one multiply-add as one FLOP; the published D-FINE numbers come from
``calflops``, which counts two, so both are printed.
"""

import argparse
from typing import Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.logging import print_log


class TensorForward(torch.nn.Module):
    """Expose the detector's tensor mode as a plain forward."""

    def __init__(self, detector: torch.nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor):
        return self.detector(images, None, mode='tensor')


def count(
    config: str, shape: Sequence[int] = (640, 640), fuse_backbone: bool = False
) -> Tuple[int, int]:
    """(parameters, multiply-adds) of ``config``'s model in deploy mode on
    one image of ``shape`` (H, W)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import dfine_mm  # noqa: F401

    register_all_modules()
    model = MODELS.build(Config.fromfile(config).model).eval()
    model.switch_to_deploy(fuse_backbone=fuse_backbone)
    params = sum(p.numel() for p in model.parameters())
    images = torch.rand(1, 3, *shape)
    analyzer = FlopAnalyzer(TensorForward(model), (images,))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return params, analyzer.total()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('--shape', type=int, nargs=2, default=(640, 640))
    parser.add_argument('--fuse-backbone', action='store_true')
    args = parser.parse_args(argv)

    params, macs = count(args.config, args.shape, args.fuse_backbone)
    print_log(
        f'{args.config}\n'
        f'  input: 1x3x{args.shape[0]}x{args.shape[1]}, deploy mode\n'
        f'  parameters: {params:,} ({params / 1e6:.2f} M)\n'
        f'  multiply-adds: {macs / 1e9:.2f} G\n'
        f'  FLOPs (2 per multiply-add, as calflops / the D-FINE README): '
        f'{2 * macs / 1e9:.2f} G',
        logger='current',
    )
    return dict(params=params, macs=macs, gflops=2 * macs / 1e9)


if __name__ == '__main__':
    main()
