"""Draw the edge distributions of a detector's top detections, layer by layer.

Example::

    python tools/analysis_tools/visualize_distributions.py \\
        configs/dfine/dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py \\
        work_dirs/demo/dfine-n_synthetic_demo.pth data/demo/val/000001.jpg \\
        --out distributions.png --topk 3

Left: the image with the top-k detections (k distinct queries; score,
class, and the edges' standard deviation as bands). Right: for each
detection, one row of four panels (left, top, right, bottom edge): the
probability of every bin of the edge distribution at each decoder layer
(the paper's figure), plotted at the bin's distance W(n) (in units of
anchor size / c), with each layer's expected value and the final edge
marked. Works for D-FINE and for the DINO
/ Deformable-DETR FDR configs (any model whose decoder returns ``corners``).
"""

import argparse
from typing import Tuple

import torch
from torch import Tensor

EDGES = ('left', 'top', 'right', 'bottom')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--topk', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def decode(model, image: str) -> Tuple[dict, Tensor, dict]:
    """Run the model on one image; return the decoder outputs of every
    layer it ran, the evaluated layer's scores (Q, K) and the image meta."""
    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg

    pipeline_cfg = get_test_pipeline_cfg(model.cfg).copy()
    pipeline_cfg = [
        t for t in pipeline_cfg if t['type'] != 'LoadAnnotations'
    ]  # fmt: skip
    data = Compose(pipeline_cfg)(dict(img_path=image, img_id=0))
    batch = model.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
        False,
    )
    with torch.no_grad():
        feats = model.extract_feat(batch['inputs'])
        out = model.forward_transformer(feats, batch['data_samples'])
        if out.get('corners') is None:
            raise ValueError(
                f'{type(model).__name__} predicts no edge distributions '
                '(plain box regression); use an FDR config'
            )
        scores = model.bbox_head(
            out['hidden_states'], out['references'], out['corners']
        )[0][-1][0]
    return out, scores, batch['data_samples'][0].metainfo


def draw(model, image: str, out_path: str, topk: int) -> None:
    """Write the figure (see the module docstring)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import mmcv

    from dfine_mm.models.utils import (
        distribution_integral,
        edge_std,
        weighting_function,
    )
    from dfine_mm.visualization import edge_bands

    out, scores, meta = decode(model, image)
    decoder = model.decoder
    project = weighting_function(
        decoder.reg_max, decoder.up, decoder.reg_scale
    )
    corners = out['corners'][:, 0]  # (R, Q, 4 * (N + 1))
    boxes = out['references'][-1, 0]  # (Q, 4) cxcywh
    # the best class of each query, then the top-k queries (mmdet's
    # post-processing may list one query under several classes)
    best, labels = scores.sigmoid().max(-1)
    top = best.topk(topk)
    queries, labels = top.indices, labels[top.indices]
    std = edge_std(corners[-1], boxes, project, decoder.reg_scale)
    h, w = meta['img_shape'][:2]
    sy, sx = h / meta['ori_shape'][0], w / meta['ori_shape'][1]
    img = mmcv.imread(image, channel_order='rgb')
    classes = model.dataset_meta.get('classes', ()) if hasattr(
        model, 'dataset_meta') and model.dataset_meta else ()  # fmt: skip
    layers = corners.shape[0]
    fig = plt.figure(figsize=(4 + 10, 2.6 * topk + 0.4))
    grid = fig.add_gridspec(topk, 5, width_ratios=[1.6, 1, 1, 1, 1])
    ax_img = fig.add_subplot(grid[:, 0])
    ax_img.imshow(img)
    ax_img.axis('off')
    colours = plt.cm.tab10.colors
    bins = project.numpy()
    for row, (query, label, score) in enumerate(
        zip(queries.tolist(), labels.tolist(), top.values.tolist())
    ):
        colour = colours[row % 10]
        cx, cy, bw, bh = (
            boxes[query] * boxes.new_tensor([w, h, w, h])
        ).tolist()
        x1, y1 = (cx - bw / 2) / sx, (cy - bh / 2) / sy
        sd = (std[query] * std.new_tensor([w / sx, h / sy] * 2)).tolist()
        ax_img.add_patch(plt.Rectangle((x1, y1), bw / sx, bh / sy, fill=False,
                                       color=colour, lw=1.5))  # fmt: skip
        # edge bands: +- one standard deviation around each edge
        box = torch.tensor([[x1, y1, x1 + bw / sx, y1 + bh / sy]])
        for bx1, by1, bx2, by2 in edge_bands(box, torch.tensor([sd]))[0]:
            ax_img.add_patch(
                plt.Rectangle(
                    (float(bx1), float(by1)), float(bx2 - bx1),
                    float(by2 - by1), color=colour, alpha=0.3, lw=0,
                )
            )  # fmt: skip
        name = classes[label] if label < len(classes) else str(label)
        ax_img.text(x1, y1 - 2, f'{row + 1}: {name} {score:.2f}',
                    color=colour, fontsize=8)  # fmt: skip
        probs = corners[:, query].reshape(layers, 4, -1).softmax(-1)
        means = distribution_integral(corners[:, query], project)  # (R, 4)
        for edge in range(4):
            ax = fig.add_subplot(grid[row, edge + 1])
            for layer in range(layers):
                shade = 0.35 + 0.65 * (layer + 1) / layers
                ax.plot(bins, probs[layer, edge].numpy(), marker='.',
                        ms=3, lw=1, color=(0, 0, 0, shade) if layer <
                        layers - 1 else colour,
                        label=f'layer {layer + 1}')  # fmt: skip
                ax.axvline(means[layer, edge].item(), ls=':', lw=0.8,
                           color=(0, 0, 0, shade))  # fmt: skip
            ax.axvline(means[-1, edge].item(), color=colour, lw=1.5)
            ax.set_title(f'{row + 1}: {EDGES[edge]} edge, std '
                         f'{sd[edge]:.1f} px', fontsize=8)  # fmt: skip
            ax.tick_params(labelsize=6)
            if row == topk - 1:
                ax.set_xlabel('bin distance W(n)', fontsize=7)
            if edge == 0:
                ax.set_ylabel('probability', fontsize=7)
            if row == 0 and edge == 3:
                ax.legend(fontsize=6)
    fig.suptitle(
        'Edge distributions per decoder layer (dotted: expected '
        'value of each layer; solid: the final edge)',
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmdet.apis import init_detector

    import dfine_mm  # noqa: F401

    model = init_detector(args.config, args.checkpoint, device=args.device)
    draw(model, args.image, args.out, args.topk)
    print(args.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
