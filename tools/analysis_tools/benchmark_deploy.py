"""PyTorch (deploy mode), ONNX Runtime and OpenVINO (fp32, low precision,
INT8) on the CPU, side by side in one run.

Example::

    python tools/analysis_tools/benchmark_deploy.py \\
        configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py \\
        configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py

For each model config: export with ``--deploy-cfg`` (default: ONNX Runtime,
static), then time ONNX Runtime and the PyTorch model that mmdeploy exports
(after ``switch_to_deploy()``), both with ``--threads`` intra-op threads
(default 2), batch 1, ``--size`` (default 640x640). All timings cover the
whole network including the top-K post-processing.

Where OpenVINO is installed (``--no-openvino`` leaves it out), the same
weights are also exported with the static OpenVINO config and run as
OpenVINO fp32 (``detection_openvino_static-640x640.py``), OpenVINO low
precision (``detection_openvino-lowp_static-640x640.py``: the CPU's own
precision, its fp32 modules kept) and OpenVINO INT8 (NNCF, the stem
unquantised as ``quantize_openvino.py`` does by default, calibrated on
``--calib-images`` synthetic images, default 32, or on the model config's
training images with ``--calib-train``). The report starts with the CPU's
ISA flags that decide the low-precision kernels (AVX-512 BF16 / VNNI, AMX)
and OpenVINO's ``OPTIMIZATION_CAPABILITIES``.

The two take turns run by run (``--runs`` rounds, default 60, after
``--warmup`` untimed ones, default 3), so that slow spells of the machine
hit both alike; the report gives the median of each, their ratio, and the
median and quartiles of the per-round ratios (each a pair of runs made
within a fraction of a second). ONNX Runtime's threads do not spin-wait
between runs (they would take the cores from PyTorch's run that follows;
``--spinning`` turns its default back on, best with ``--block 5 --settle
1``: turns of 5 timed runs after 1 untimed). glibc's malloc is set to keep
freed memory (:func:`dfine_mm.utils.glibc_malloc.keep_freed_memory`) so that
PyTorch's activations do not page-fault anew in every run, which costs it
up to a quarter of its time depending on the process's earlier
allocations; ``--default-malloc`` leaves malloc as it is. Without
``--checkpoint`` the D-FINE variant configs get well-conditioned random
weights (the parity recipe), so the detections can be compared too.
"""

import argparse
import os.path as osp
import statistics
import tempfile

import cv2
import numpy as np
import torch
from mmengine.logging import print_log

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPLOY_DIR = osp.join(ROOT, 'configs', 'deploy')
STATIC_ORT = osp.join(DEPLOY_DIR, 'detection_onnxruntime_static.py')
OPENVINO_CFGS = dict(
    fp32=osp.join(DEPLOY_DIR, 'detection_openvino_static-640x640.py'),
    lowp=osp.join(DEPLOY_DIR, 'detection_openvino-lowp_static-640x640.py'),
)
#: /proc/cpuinfo flags that decide OpenVINO's low-precision CPU kernels
ISA_FLAGS = (
    'avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'avx_vnni',
    'amx_bf16', 'amx_int8', 'amx_fp16', 'avx512_fp16',
)  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+', help='model config(s)')
    parser.add_argument('--checkpoint', help='weights (one config only)')
    parser.add_argument('--deploy-cfg', default=STATIC_ORT)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 640))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=60)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--block', type=int, default=1)
    parser.add_argument('--settle', type=int, default=0)
    parser.add_argument(
        '--spinning',
        action='store_true',
        help="ONNX Runtime's threads spin-wait between runs (its default)",
    )
    parser.add_argument(
        '--no-openvino', action='store_true', help='leave OpenVINO out'
    )
    parser.add_argument('--calib-images', type=int, default=32)
    parser.add_argument('--out', help='also write the report to this file')
    parser.add_argument(
        '--calib-train', action='store_true',
        help="calibrate INT8 on the model config's training images",
    )  # fmt: skip
    parser.add_argument(
        '--default-malloc',
        action='store_true',
        help='leave glibc malloc returning freed memory to the system',
    )
    args = parser.parse_args(argv)
    if args.checkpoint and len(args.configs) > 1:
        parser.error('--checkpoint goes with a single config')
    return args


def _weights(config: str, work_dir: str) -> str:
    from dfine_mm.converters.dfine import VARIANT_CONFIGS
    from dfine_mm.testing import conditioned_state_dict

    variant = next(
        (v for v, name in VARIANT_CONFIGS.items() if config.endswith(name)),
        None,
    )
    if variant is None:
        raise ValueError(
            f'{config} is not a D-FINE variant config; pass --checkpoint'
        )
    path = osp.join(work_dir, f'dfine_{variant}_random.pth')
    torch.save(dict(state_dict=conditioned_state_dict(variant)), path)
    return path


def cpu_isa() -> str:
    """The CPU's model name, its low-precision ISA flags and OpenVINO's
    view of them."""
    model, flags = 'unknown CPU', set()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as file:
            for line in file:
                if line.startswith('model name') and model == 'unknown CPU':
                    model = line.split(':', 1)[1].strip()
                elif line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
    have = [flag for flag in ISA_FLAGS if flag in flags]
    text = f'{model}; ISA: {" ".join(have) or "none of " + str(ISA_FLAGS)}'
    from dfine_mm.deploy.openvino import openvino_version

    if openvino_version():
        import openvino as ov

        caps = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
        text += f'; OpenVINO {openvino_version()} CPU: {" ".join(caps)}'
    return text


def openvino_runners(config, checkpoint, image_file, out_dir, args):
    """OpenVINO fp32, low precision and INT8 runners of one export."""
    from dfine_mm.deploy import export_model
    from dfine_mm.deploy.export import load_configs
    from dfine_mm.deploy.openvino.precision import keep_fp32
    from dfine_mm.deploy.openvino.quantize import (
        DEFAULT_IGNORED,
        calibration_inputs,
        quantize_ir,
    )
    from dfine_mm.testing import synthetic_images

    height, width = args.size
    deploy_cfg, model_cfg = load_configs(OPENVINO_CFGS['fp32'], config)
    deploy_cfg.onnx_config.input_shape = [width, height]
    deploy_cfg.backend_config.model_inputs[0].opt_shapes.input = [
        1, 3, height, width,
    ]  # fmt: skip
    xml = export_model(
        deploy_cfg, model_cfg, checkpoint, image_file,
        osp.join(out_dir, 'openvino'),
    )['xml']  # fmt: skip
    lowp_cfg, _ = load_configs(OPENVINO_CFGS['lowp'], config)
    lowp_xml = osp.join(out_dir, 'openvino', 'lowp.xml')
    keep_fp32(xml, lowp_cfg.backend_config.fp32_modules, lowp_xml)
    if args.calib_train:
        inputs = calibration_inputs(model_cfg, args.calib_images)
    else:
        inputs = [
            image[None].numpy()
            for image in synthetic_images(height, width, args.calib_images)
        ]
    int8_xml = quantize_ir(
        xml, osp.join(out_dir, 'openvino', 'int8.xml'), inputs,
        DEFAULT_IGNORED,
    )  # fmt: skip
    from dfine_mm.deploy.openvino.wrapper import OpenVINORuntimeWrapper

    lowp_cfg.backend_config.model_inputs = (
        deploy_cfg.backend_config.model_inputs
    )
    backends = dict(
        fp32=(xml, deploy_cfg), lowp=(lowp_xml, lowp_cfg),
        int8=(int8_xml, deploy_cfg),
    )  # fmt: skip
    runners = {}
    for name, (path, cfg) in backends.items():
        cfg.backend_config.num_threads = args.threads
        wrapper = OpenVINORuntimeWrapper(path, ['dets', 'labels'], cfg)

        def run(images, wrapper=wrapper):
            out = wrapper(dict(input=images))
            return out['dets'].numpy(), out['labels'].numpy()

        runners[f'openvino {name}'] = run
    return runners


def benchmark(config: str, args: argparse.Namespace, work_dir: str) -> str:
    """Export, check and time one config; return the report lines."""
    from dfine_mm.deploy import export_model
    from dfine_mm.deploy.export import load_configs, task_processor
    from dfine_mm.deploy.verify import (
        confident_differences,
        detection_differences,
        onnxruntime_detections,
        onnxruntime_session,
        pytorch_detections,
    )
    from dfine_mm.testing import (
        alternating_times,
        medians,
        paired_ratios,
        synthetic_images,
    )

    height, width = args.size
    images = synthetic_images(height, width, 1)
    image_file = osp.join(work_dir, 'image.png')
    rgb = (images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    cv2.imwrite(image_file, rgb[..., ::-1])
    checkpoint = args.checkpoint or _weights(config, work_dir)
    deploy_cfg, model_cfg = load_configs(args.deploy_cfg, config)
    deploy_cfg.onnx_config.input_shape = [width, height]
    out_dir = osp.join(work_dir, osp.splitext(osp.basename(config))[0])
    onnx_path = export_model(
        deploy_cfg, model_cfg, checkpoint, image_file, out_dir
    )['onnx']
    model = task_processor(deploy_cfg, model_cfg).build_pytorch_model(
        checkpoint
    )
    torch.set_num_threads(args.threads)
    session = onnxruntime_session(
        onnx_path, args.threads, spinning=args.spinning
    )
    runners = dict(
        onnxruntime=lambda: onnxruntime_detections(session, images),
        pytorch=lambda: pytorch_detections(model, images),
    )
    from dfine_mm.deploy.openvino import INSTALL_HINT, openvino_version

    use_openvino = not args.no_openvino
    if use_openvino and openvino_version() is None:
        print_log(
            f'OpenVINO is not installed ({INSTALL_HINT}): left out',
            logger='current',
            level=30,
        )
        use_openvino = False
    if use_openvino:
        for name, run in openvino_runners(
            config, checkpoint, image_file, out_dir, args
        ).items():  # fmt: skip
            runners[name] = lambda run=run: run(images)
    outputs = {name: run() for name, run in runners.items()}
    times = alternating_times(
        runners, args.warmup, args.runs, args.block, args.settle
    )
    ms = medians(times)
    spinning = 'on' if args.spinning else 'off'
    lines = [
        f'{config}: batch 1, {height}x{width}, {args.threads} threads, '
        f'{args.runs} rounds of {args.block} timed runs each (after '
        f'{args.settle} untimed), onnxruntime spinning {spinning}',
        '| runtime | median ms | vs pytorch (per round: median, '
        'quartiles) | speed-up vs openvino fp32 | top-100 vs pytorch: '
        'score, box px, labels | scores >= 0.3: max, mean |',
        '| --- | --- | --- | --- | --- | --- |',
    ]
    for name in runners:
        ratios = statistics.quantiles(
            paired_ratios(times, name, 'pytorch'), n=4
        )
        vs_ov = (
            f'{ms["openvino fp32"] / ms[name]:.2f}x'
            if 'openvino fp32' in ms else '-'
        )  # fmt: skip
        diff = detection_differences(outputs['pytorch'], outputs[name])
        conf = confident_differences(outputs['pytorch'], outputs[name])
        lines.append(
            f'| {name} | {ms[name]:.1f} | {ms[name] / ms["pytorch"]:.3f} '
            f'({ratios[1]:.3f}, {ratios[0]:.3f}-{ratios[2]:.3f}) | {vs_ov} '
            f'| {diff["score"]:.1e}, {diff["box"]:.1e}, '
            f'{diff["label_mismatches"]} | {conf["max_score"]:.1e}, '
            f'{conf["mean_score"]:.1e} |'
        )
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    import onnxruntime

    import dfine_mm  # noqa: F401
    from dfine_mm.testing import keep_freed_memory

    if args.default_malloc:
        malloc = 'default'
    elif keep_freed_memory():
        malloc = 'keeps freed memory'
    else:
        malloc = 'default (not glibc)'
    reports = []
    with tempfile.TemporaryDirectory() as work_dir:
        for config in args.configs:
            reports.append(benchmark(config, args, work_dir))
    text = (
        f'{cpu_isa()}\nonnxruntime {onnxruntime.__version__}, torch '
        f'{torch.__version__}, malloc {malloc}\n' + '\n'.join(reports)
    )
    print_log(text, logger='current')
    if args.out:
        with open(args.out, 'w') as file:
            file.write(text + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
