"""Detect objects in images, folders and videos with a D-FINE model.

Examples::

    # a model name from model-index.yml (or a config path) and weights in
    # any format: official, DEIM, transformers or dfine_mm
    python tools/infer.py demo.jpg photos/ clip.mp4 \
        --model dfine-l_hgnetv2-b4_4xb8-80e_coco --weights dfine_l_coco.pth \
        --out-dir outputs/ --show-uncertainty

Writes under ``--out-dir``: ``vis/<input>``, each image annotated;
``<video>`` (``.mp4`` / ``.avi``), each video annotated frame by frame at
its own fps and size; and ``predictions.json``, the detections with score
>= ``--score-thr`` in COCO results format (``image_id``, ``file_name``,
``bbox`` xywh pixels, ``score``, ``category_id``: COCO's ids for 80-class
COCO models, else label + 1; video frames add ``frame``).
``--show-uncertainty`` draws a band of +- one standard deviation of each
edge's distribution (``pred_instances.edge_std``).

Folders are searched recursively. Files of other types are named and
skipped. Inputs that cannot be read are named; the others are still
processed and the exit status is 1.
"""

import argparse
import json
import logging
import os
import os.path as osp
import sys
import time
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

IMAGE_EXTENSIONS = (
    '.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp'
)  # fmt: skip
VIDEO_FOURCC = {'.mp4': 'mp4v', '.avi': 'MJPG'}
# COCO's 80 category ids: 1..90 without the ten unused ones
COCO_CATEGORY_IDS = tuple(
    i for i in range(1, 91)
    if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
)  # fmt: skip

Item = Tuple[str, str]  # (path, name under --out-dir)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Detect objects in images, folders and videos.'
    )
    parser.add_argument('inputs', nargs='+', help='images, folders, videos')
    parser.add_argument(
        '--model', required=True, help='config file or model name'
    )
    parser.add_argument(
        '--weights',
        help="checkpoint (any format); defaults to the metafile's weights",
    )
    parser.add_argument('--out-dir', default='outputs')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--device', default='cpu', help='cpu or cuda:0')
    parser.add_argument(
        '--show-uncertainty',
        action='store_true',
        help='draw +- one standard deviation around each box edge',
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error('--batch-size must be at least 1')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: no CUDA GPU here; use cpu')
    return args


def _log(message: str, level: int = logging.INFO) -> None:
    print_log(message, logger='current', level=level)


def collect_inputs(paths: List[str]) -> Tuple[List[Item], List[Item], list]:
    """Split the inputs into images and videos (folders recursively).

    Returns:
        tuple: ``(images, videos, missing)``; unsupported files are logged
        and left out.
    """
    images: List[Item] = []
    videos: List[Item] = []
    missing: List[str] = []

    def add(path: str, name: str, named: bool) -> None:
        ext = osp.splitext(path)[1].lower()
        if ext in IMAGE_EXTENSIONS:
            images.append((path, name))
        elif ext in VIDEO_FOURCC:
            videos.append((path, name))
        elif named:
            kinds = ' '.join(IMAGE_EXTENSIONS + tuple(VIDEO_FOURCC))
            _log(f'skipped {path}: not an image or video ({kinds})',
                 logging.WARNING)  # fmt: skip

    for path in paths:
        if osp.isdir(path):
            top = osp.basename(osp.normpath(path))
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    full = osp.join(root, file)
                    add(full, osp.join(top, osp.relpath(full, path)), False)
        elif osp.isfile(path):
            add(path, osp.basename(path), True)
        else:
            missing.append(path)
    return images, videos, missing


def build_inferencer(args: argparse.Namespace):
    """mmdet's ``DetInferencer`` for ``--model`` / ``--weights``."""
    from mmdet.apis import DetInferencer

    # importing dfine_mm adds the checkpoint formats and model names
    from dfine_mm.utils import resolve_model

    config, weights = resolve_model(args.model)
    weights = args.weights or weights
    if weights is None:
        raise ValueError(
            f'{args.model} has no released weights; give --weights'
        )
    try:
        return DetInferencer(
            model=config, weights=weights, device=args.device,
            show_progress=False,
        )  # fmt: skip
    except OSError as e:  # urllib's URLError too
        if '://' not in str(weights):
            raise
        raise ValueError(
            f'cannot download {weights} ({e}); download it and give '
            '--weights FILE'
        ) from e


class Predictor:
    """Runs batches through the inferencer, annotates them and collects
    the COCO results."""

    def __init__(self, inferencer, args: argparse.Namespace) -> None:
        self.inferencer = inferencer
        self.thr = args.score_thr
        self.uncertainty = args.show_uncertainty
        classes = inferencer.model.dataset_meta.get('classes', ())
        from mmdet.datasets import CocoDataset

        coco = tuple(classes) == tuple(CocoDataset.METAINFO['classes'])
        self.category_ids = (
            COCO_CATEGORY_IDS if coco else range(1, len(classes) + 1)
        )
        self.results: List[Dict] = []
        self.count = 0
        self.degenerate = 0  # boxes with x2 <= x1 or y2 <= y1

    def __call__(
        self, frames: List[np.ndarray], names: List[str], frame0=None
    ) -> List[np.ndarray]:
        """Detect in BGR ``frames``; return the annotated BGR frames."""
        samples = self.inferencer(
            frames, batch_size=len(frames), return_datasamples=True,
            no_save_vis=True, pred_score_thr=self.thr,
        )['predictions']  # fmt: skip
        out = []
        for i, (frame, name) in enumerate(zip(frames, names)):
            self.count += 1
            pred = samples[i].pred_instances
            box = pred.bboxes
            valid = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
            kept = pred[(pred.scores >= self.thr) & valid]
            self.degenerate += int(((pred.scores >= self.thr) & ~valid).sum())
            samples[i].pred_instances = kept
            self._record(kept, name, None if frame0 is None else frame0 + i)
            out.append(self._annotate(frame, samples[i], kept))
        return out

    def _record(self, pred, name: str, frame: Optional[int]) -> None:
        boxes = pred.bboxes.tolist()
        for box, score, label in zip(
            boxes, pred.scores.tolist(), pred.labels.tolist()
        ):
            entry = dict(
                image_id=self.count, file_name=name,
                bbox=[round(v, 2) for v in (box[0], box[1], box[2] - box[0],
                                            box[3] - box[1])],
                score=round(score, 5),
                category_id=int(self.category_ids[label]),
            )  # fmt: skip
            if frame is not None:
                entry['frame'] = frame
            self.results.append(entry)

    def _annotate(self, frame: np.ndarray, sample, kept) -> np.ndarray:
        visualizer = self.inferencer.visualizer
        visualizer.add_datasample(
            'frame', frame[..., ::-1], sample, draw_gt=False, show=False,
            pred_score_thr=self.thr,
        )  # fmt: skip
        image = visualizer.get_image()
        if self.uncertainty:
            from dfine_mm.visualization import draw_edge_bands

            if 'edge_std' not in kept:
                raise ValueError(
                    'this model gives no edge_std (not an FDR model); '
                    'drop --show-uncertainty'
                )
            from mmdet.visualization.palette import get_palette

            meta = self.inferencer.model.dataset_meta
            palette = get_palette(
                visualizer.bbox_color or meta.get('palette'),
                len(meta['classes']),
            )
            colours = [tuple(palette[int(c)]) for c in kept.labels]
            image = draw_edge_bands(
                visualizer, image, kept.bboxes, kept.edge_std, colours
            )
        return np.ascontiguousarray(image[..., ::-1])


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _video_frames(capture, size: int) -> Iterator[List[np.ndarray]]:
    batch: List[np.ndarray] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(args: argparse.Namespace) -> int:
    images, videos, unreadable = collect_inputs(args.inputs)
    for path in unreadable:
        _log(f'cannot read {path}: no such file or folder', logging.ERROR)
    predictor = Predictor(build_inferencer(args), args)
    captures = [(cv2.VideoCapture(p), p, n) for p, n in videos]
    total = len(images) + sum(
        max(int(c.get(cv2.CAP_PROP_FRAME_COUNT)), 0) for c, _, _ in captures
    )
    progress = ProgressBar(total)
    start = time.perf_counter()
    vis_dir = osp.join(args.out_dir, 'vis')
    for batch in _batches(images, args.batch_size):
        frames, names = [], []
        for path, name in batch:
            frame = cv2.imread(path, cv2.IMREAD_COLOR)
            if frame is None:
                unreadable.append(path)
                _log(f'cannot read {path}: not a decodable image',
                     logging.ERROR)  # fmt: skip
                continue
            frames.append(frame)
            names.append(name)
        if frames:
            for drawn, name in zip(predictor(frames, names), names):
                out = osp.join(vis_dir, name)
                os.makedirs(osp.dirname(out), exist_ok=True)
                cv2.imwrite(out, drawn)
        for _ in batch:
            progress.update()
    for capture, path, name in captures:
        if not _annotate_video(capture, path, name, predictor, args, progress):
            unreadable.append(path)
    seconds = time.perf_counter() - start
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'predictions.json'), 'w') as f:
        json.dump(predictor.results, f)
    _log(
        f'{predictor.count} images and frames in {seconds:.1f} s '
        f'({predictor.count / max(seconds, 1e-9):.2f} images/s), '
        f'{len(predictor.results)} detections -> {args.out_dir}'
    )
    if predictor.degenerate:
        _log(
            f'left out {predictor.degenerate} degenerate boxes (x2 <= x1 '
            'or y2 <= y1) above the score threshold',
            logging.WARNING,
        )
    if unreadable:
        _log(f'{len(unreadable)} inputs could not be read: {unreadable}',
             logging.ERROR)  # fmt: skip
        return 1
    return 0


def _annotate_video(capture, path, name, predictor, args, progress) -> bool:
    """Write the annotated copy of one video; False if it cannot be read."""
    if not capture.isOpened():
        _log(f'cannot open video {path}', logging.ERROR)
        return False
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))  # fmt: skip
    out = osp.join(args.out_dir, name)
    os.makedirs(osp.dirname(out) or '.', exist_ok=True)
    ext = osp.splitext(out)[1].lower()
    fourcc = cv2.VideoWriter_fourcc(*VIDEO_FOURCC[ext])
    writer = cv2.VideoWriter(out, fourcc, fps, size)
    written = 0
    try:
        for frames in _video_frames(capture, args.batch_size):
            names = [name] * len(frames)
            for drawn in predictor(frames, names, frame0=written):
                writer.write(drawn)
                written += 1
                progress.update()
    finally:
        writer.release()
        capture.release()
    if written == 0:
        _log(f'cannot read video {path}: no frames decoded', logging.ERROR)
        return False
    return True


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
