"""`make demo`: generate the synthetic data set, train D-FINE-N on it on the
CPU with mmengine's Runner, print the COCO metrics, keep the checkpoint and
draw predictions on validation images.

Example::

    python tools/run_demo.py --work-dir work_dirs/demo
"""

import argparse
import importlib.util
import os
import os.path as osp
import shutil
import time

import cv2
import numpy as np
from mmengine.logging import print_log

from dfine_mm.datasets.synthetic import generate_synthetic_coco

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT, 'configs', 'dfine', 'dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py'
)
# the demo data set (see the config's header)
DATA = dict(
    num_train=600,
    num_val=100,
    img_size=256,
    num_classes=5,
    max_objects=6,
    min_object_size=24,
    seed=0,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument(
        '--num-images', type=int, default=8, help='validation images drawn'
    )
    parser.add_argument(
        '--score-thr', type=float, default=0.4, help='drawing threshold'
    )
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], help='passed to train.py'
    )
    for name in ('num_train', 'num_val', 'img_size'):
        parser.add_argument(
            '--' + name.replace('_', '-'),
            type=int,
            default=DATA[name],
            help=f'data set size (default {DATA[name]})',
        )
    return parser.parse_args(argv)


def load_train_tool():
    spec = importlib.util.spec_from_file_location(
        'dfine_mm_train_tool', osp.join(ROOT, 'tools', 'train.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_data(root: str, **overrides) -> None:
    """Generate the data set unless the same one is already there."""
    data = dict(DATA, **overrides)
    stamp = osp.join(root, 'demo_data.txt')
    wanted = repr(sorted(data.items()))
    if osp.exists(stamp):
        with open(stamp) as f:
            if f.read() == wanted:
                print_log(f'data set: reusing {root}', logger='current')
                return
    start = time.perf_counter()
    os.makedirs(root, exist_ok=True)
    generate_synthetic_coco(root, overwrite=True, **data)
    with open(stamp, 'w') as f:
        f.write(wanted)
    print_log(
        f'data set: {data["num_train"]} train / {data["num_val"]} val '
        f'images written to {root} in {time.perf_counter() - start:.1f} s',
        logger='current',
    )


def draw_predictions(model, cfg, root, out_file, num_images, score_thr):
    """A grid of validation images with predicted boxes, labels, scores."""
    from mmdet.apis import inference_detector

    classes = cfg.metainfo['classes']
    palette = cfg.metainfo['palette']
    val_dir = osp.join(root, 'val')
    names = sorted(os.listdir(val_dir))[:num_images]
    tiles = []
    for name in names:
        image = cv2.imread(osp.join(val_dir, name))
        result = inference_detector(model, image).pred_instances
        keep = result.scores >= score_thr
        for box, label, score in zip(
            result.bboxes[keep], result.labels[keep], result.scores[keep]
        ):
            x1, y1, x2, y2 = (int(round(float(v))) for v in box)
            colour = tuple(int(c) for c in palette[int(label)][::-1])
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
            cv2.putText(
                image,
                f'{classes[int(label)]} {float(score):.2f}',
                (x1, max(10, y1 - 3)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.35,
                colour,
                1,
                cv2.LINE_AA,
            )
        tiles.append(image)
    columns = 4
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [
        np.concatenate(tiles[i : i + columns], 1)
        for i in range(0, len(tiles), columns)
    ]
    cv2.imwrite(out_file, np.concatenate(rows, 0))


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    make_data(
        args.data_root,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=args.img_size,
    )

    train = load_train_tool()
    train_args = [CONFIG, '--work-dir', args.work_dir]
    data_root = args.data_root.rstrip('/') + '/'
    options = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={data_root}annotations/instances_val.json',
        f'test_evaluator.ann_file={data_root}annotations/instances_val.json',
        *args.cfg_options,
    ]
    cfg = train.build_config(
        train.parse_args([*train_args, '--cfg-options', *options])
    )
    from dfine_mm.utils.runner_cli import build_runner

    runner = build_runner(cfg)
    runner.train()  # evaluates the EMA weights at the end
    hub = runner.message_hub
    metrics = {
        key[len('val/') :]: hub.get_scalar(key).current()
        for key in hub.log_scalars
        if key.startswith('val/coco/bbox_mAP')
    }

    checkpoint = osp.join(args.work_dir, 'dfine-n_synthetic_demo.pth')
    last = osp.join(args.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    shutil.copyfile(last, checkpoint)

    from mmdet.apis import init_detector

    model = init_detector(cfg, checkpoint, device='cpu')
    png = osp.join(args.work_dir, 'predictions.png')
    draw_predictions(
        model, cfg, args.data_root, png, args.num_images, args.score_thr
    )
    print_log(
        '\n'
        + '\n'.join(
            [
                'dfine_mm demo finished in '
                f'{time.perf_counter() - start:.0f} s',
                'COCO bbox metrics on the synthetic validation split: '
                + ', '.join(
                    f'{k.split("/")[-1]} {v:.3f}'
                    for k, v in metrics.items()
                    if k.startswith('coco/bbox_mAP')
                ),
                f'checkpoint: {checkpoint}',
                f'predictions on {args.num_images} validation images: {png}',
            ]
        ),
        logger='current',
    )
    return metrics


if __name__ == '__main__':
    main()
