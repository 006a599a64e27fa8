"""Which modules of an OpenVINO IR lose accuracy in low precision.

Example (the demo checkpoint's IR, 100 validation images)::

    python tools/analysis_tools/openvino_precision.py \\
        work_dirs/ov_demo/dynamic/end2end.xml \\
        work_dirs/fdr_ablation/data/val --time-size 640 640 \\
        --out precision.json

The reference is the IR in fp32 (``INFERENCE_PRECISION_HINT=f32``). For
each module (layer-name prefix of ``--depth`` components, e.g.
``/backbone/stages.2``) two runs are compared with it:

- *alone*: only that module in low precision (``--precision``, bf16), the
  rest fp32: how much accuracy the module loses by itself;
- *kept*: the CPU's low-precision mode with that module kept fp32: how much
  keeping it recovers, and (``--time-size``) what it costs, as latency at
  batch 1 next to fp32's and the plain low-precision mode's.

Differences are those of the fp32 run's confident detections (score >=
``--score-thr``; :func:`~dfine_mm.deploy.verify.confident_differences`).
``--keep`` evaluates a candidate list of modules kept together (a deploy
config's ``backend_config.fp32_modules``).
"""

import argparse
import glob
import json
import os.path as osp
import statistics
import tempfile
import time

import cv2
import numpy as np
from mmengine.logging import print_log


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('xml', help="the IR's .xml (fp32 weights)")
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--size', type=int, nargs=2, help='resize to H W')
    parser.add_argument('--depth', type=int, default=3)
    parser.add_argument(
        '--modules', nargs='+',
        help='measure these layer-name prefixes (default: all at --depth)',
    )  # fmt: skip
    parser.add_argument(
        '--precision', default='bf16', choices=['bf16', 'int8'],
        help="the CPU's bf16 mode, or NNCF INT8 (needs --model-cfg)",
    )  # fmt: skip
    parser.add_argument(
        '--model-cfg', help='INT8: the model config (calibration images)'
    )
    parser.add_argument('--num-images', type=int, default=64)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--keep', nargs='+', default=[])
    parser.add_argument('--time-size', type=int, nargs=2)
    parser.add_argument('--time-runs', type=int, default=15)
    parser.add_argument('--out', help='JSON file of all numbers')
    return parser.parse_args(argv)


def load_images(paths, size=None) -> np.ndarray:
    """RGB images in [0, 1], (N, 3, H, W) float32, as the IR takes them.

    Raises:
        FileNotFoundError: A path that does not exist, or no image.
        ValueError: Images of different sizes without ``size``.
    """
    files = []
    for path in paths:
        if osp.isdir(path):
            files += sorted(
                f for f in glob.glob(osp.join(path, '*'))
                if f.lower().endswith(('.jpg', '.jpeg', '.png', '.bmp'))
            )  # fmt: skip
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'image or folder not found: {path}')
    if not files:
        raise FileNotFoundError(f'no images in {list(paths)}')
    images = []
    for file in files:
        image = cv2.imread(file)
        if image is None:
            raise FileNotFoundError(f'not an image: {file}')
        if size is not None:
            image = cv2.resize(image, (size[1], size[0]))
        images.append(image[..., ::-1].transpose(2, 0, 1) / 255.0)
    if len({image.shape for image in images}) > 1:
        raise ValueError('images of different sizes: pass --size H W')
    return np.stack(images).astype(np.float32)


class Runner:
    """Compile IR variants and run them image by image."""

    def __init__(self, xml: str, threads: int) -> None:
        from dfine_mm.deploy.openvino import require_openvino

        self.ov = require_openvino()
        self.core = self.ov.Core()
        self.xml = xml
        self.threads = threads

    def read(self, xml=None):
        return self.core.read_model(xml or self.xml)

    def compile(self, model, hint):
        config = {'INFERENCE_NUM_THREADS': self.threads}
        if hint is not None:
            config['INFERENCE_PRECISION_HINT'] = hint
        return self.core.compile_model(model, 'CPU', config)

    def detections(self, model, hint, images):
        compiled = self.compile(model, hint)
        request = compiled.create_infer_request()
        dets, labels = [], []
        for image in images:
            out = request.infer({0: image[None]})
            dets.append(out[compiled.outputs[0]])
            labels.append(out[compiled.outputs[1]])
        return np.concatenate(dets), np.concatenate(labels)

    def latency_ms(self, model, hint, size, runs) -> float:
        model.reshape([1, 3, *size])
        request = self.compile(model, hint).create_infer_request()
        x = np.random.RandomState(0).rand(1, 3, *size).astype(np.float32)
        for _ in range(3):
            request.infer({0: x})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            request.infer({0: x})
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)


class Bf16Variants:
    """The CPU's bf16 mode: alone by explicit conversions, kept by marks."""

    def __init__(self, runner: Runner, work_dir: str) -> None:
        self.runner, self.work_dir = runner, work_dir

    def plain(self):
        return self.runner.read(), 'bf16'

    def alone(self, prefix: str):
        from dfine_mm.deploy.openvino.precision import lower_precision

        model = self.runner.read()
        layers = lower_precision(model, [prefix], 'bf16')
        return model, 'f32', layers

    def kept(self, prefixes):
        from dfine_mm.deploy.openvino.precision import keep_fp32

        marked = osp.join(self.work_dir, 'kept.xml')
        keep_fp32(self.runner.xml, prefixes, marked)
        return self.runner.read(marked), 'bf16'


class Int8Variants(Bf16Variants):
    """NNCF INT8, the rest fp32: alone quantises one module only, kept
    leaves it unquantised."""

    def __init__(self, runner: Runner, work_dir: str, inputs) -> None:
        super().__init__(runner, work_dir)
        self.inputs = inputs

    def _quantized(self, **kwargs):
        from dfine_mm.deploy.openvino.quantize import quantize_ir

        out = osp.join(self.work_dir, 'int8.xml')
        quantize_ir(self.runner.xml, out, self.inputs, **kwargs)
        return self.runner.read(out)

    def plain(self):
        return self._quantized(), 'f32'

    def alone(self, prefix: str):
        model = self._quantized(only_modules=[prefix])
        layers = sum(
            op.get_type_name() == 'FakeQuantize' for op in model.get_ops()
        )
        return model, 'f32', layers

    def kept(self, prefixes):
        return self._quantized(ignored_modules=prefixes), 'f32'


def measure(args: argparse.Namespace, work_dir: str) -> dict:
    """All the runs; returns the numbers by variant."""
    from dfine_mm.deploy.openvino.precision import module_prefixes
    from dfine_mm.deploy.verify import confident_differences

    runner = Runner(args.xml, args.threads)
    images = load_images(args.images, args.size)
    reference = runner.detections(runner.read(), 'f32', images)
    if args.precision == 'int8':
        from mmengine.config import Config

        from dfine_mm.deploy.openvino.quantize import calibration_inputs

        if not args.model_cfg:
            raise ValueError('--precision int8 needs --model-cfg')
        inputs = calibration_inputs(
            Config.fromfile(args.model_cfg), args.num_images
        )
        variants = Int8Variants(runner, work_dir, inputs)
    else:
        variants = Bf16Variants(runner, work_dir)

    def run(model, hint):
        out = runner.detections(model, hint, images)
        diff = confident_differences(reference, out, args.score_thr)
        result = {k: round(v, 5) for k, v in diff.items()}
        if args.time_size:
            result['latency_ms'] = round(
                runner.latency_ms(model, hint, args.time_size, args.time_runs),
                2,
            )
        return result

    results = dict(
        precision=args.precision,
        images=len(images),
        score_thr=args.score_thr,
        fp32=run(runner.read(), 'f32'),
        low=run(*variants.plain()),
        modules={},
    )
    for prefix in args.modules or module_prefixes(runner.read(), args.depth):
        model, hint, layers = variants.alone(prefix)
        alone = run(model, hint)
        alone.pop('latency_ms', None)
        kept = run(*variants.kept([prefix]))
        results['modules'][prefix] = dict(
            layers=layers, alone=alone, kept=kept
        )
        print_log(
            f'{prefix}: alone max/mean {alone["max_score"]:.4f}/'
            f'{alone["mean_score"]:.4f}',
            logger='current',
        )
    if args.keep:
        results['keep'] = dict(
            modules=args.keep, **run(*variants.kept(args.keep))
        )
    return results


def report(results: dict, low: str) -> str:
    """The table: modules by the accuracy they lose alone."""

    def speed(ms):
        fp32 = results['fp32'].get('latency_ms')
        return f'{fp32 / ms:.2f}x' if ms and fp32 else '-'

    rows = sorted(
        results['modules'].items(),
        key=lambda item: -item[1]['alone']['mean_score'],
    )
    lines = [
        f'{results["images"]} images, detections scoring >= '
        f'{results["score_thr"]} in fp32; score differences max / mean',
        f'{low} (all of the model): '
        f'{results["low"]["max_score"]:.4f} / '
        f'{results["low"]["mean_score"]:.4f}, speed vs fp32 '
        f'{speed(results["low"].get("latency_ms"))}',
        f'| module | layers | alone in {low} | {low}, module kept fp32 '
        '| speed vs fp32 |',
        '| --- | --- | --- | --- | --- |',
    ]
    for prefix, row in rows:
        alone, kept = row['alone'], row['kept']
        lines.append(
            f'| {prefix} | {row["layers"]} | {alone["max_score"]:.4f} / '
            f'{alone["mean_score"]:.4f} | {kept["max_score"]:.4f} / '
            f'{kept["mean_score"]:.4f} | {speed(kept.get("latency_ms"))} |'
        )
    if 'keep' in results:
        keep = results['keep']
        lines.append(
            f'kept together {keep["modules"]}: {keep["max_score"]:.4f} / '
            f'{keep["mean_score"]:.4f}, speed {speed(keep.get("latency_ms"))}'
        )
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as work_dir:
        results = measure(args, work_dir)
    print_log(report(results, args.precision), logger='current')
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(results, file, indent=1)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
