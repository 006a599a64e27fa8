"""Helpers shared by the tests: paths, the demo config, option builders
and sample builders. Import them with ``from helpers import ...`` (pytest
puts ``tests/`` on ``sys.path``, see ``pythonpath`` in pyproject.toml).
"""

import contextlib
import copy
import importlib.util
import logging
import os.path as osp
from typing import Iterator, List

import torch
from torch.utils._python_dispatch import TorchDispatchMode

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STATE_DICT_KEYS = osp.join(REPO_ROOT, 'tests', 'data', 'state_dict_keys')
LAYOUT_DTYPES = dict(float32=torch.float32, int64=torch.int64, bool=torch.bool)

#: test files that share a costly session fixture (``trained_demo``: 40 s
#: of training) run on one pytest-xdist worker, which builds it once (see
#: conftest.py); test_suite_split.py keeps this table complete
SHARED_FIXTURE_FILES = {
    'tests/test_tools/test_deploy_tools.py': 'trained_demo',
    'tests/test_tools/test_train.py': 'trained_demo',
}

DEMO_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'dfine', 'dfine-n_hgnetv2-b0_1xb16-9e_synthetic.py'
)

#: a tiny DFineHybridEncoder (three levels, strides 8, 16, 32)
TINY_NECK = dict(
    in_channels=(8, 16, 32),
    hidden_dim=16,
    num_heads=2,
    dim_feedforward=32,
    expansion=0.5,
    depth_mult=0.34,
)


#: DFineHybridEncoder settings of the official D-FINE variants
#: (dfine_spec.md b.3), written here independently of the configs
NECK_VARIANTS = dict(
    n=dict(in_channels=(512, 1024), hidden_dim=128, dim_feedforward=512,
           use_encoder_idx=(1,), expansion=0.34, depth_mult=0.5),
    s=dict(in_channels=(256, 512, 1024), hidden_dim=256, dim_feedforward=1024,
           use_encoder_idx=(2,), expansion=0.5, depth_mult=0.34),
    m=dict(in_channels=(384, 768, 1536), hidden_dim=256, dim_feedforward=1024,
           use_encoder_idx=(2,), expansion=1.0, depth_mult=0.67),
    l=dict(in_channels=(512, 1024, 2048), hidden_dim=256, dim_feedforward=1024,
           use_encoder_idx=(2,), expansion=1.0, depth_mult=1.0),
    x=dict(in_channels=(512, 1024, 2048), hidden_dim=384, dim_feedforward=2048,
           use_encoder_idx=(2,), expansion=1.0, depth_mult=1.0),
)  # fmt: skip

#: the start of a child-process script that reads glibc's own bookkeeping
#: (``libc.mallinfo2()``, glibc >= 2.33; ``MIB`` bytes in a MiB): counted
#: by malloc, not by the kernel, so transparent huge pages and the
#: machine's memory do not change it
MALLINFO2_PRELUDE = """
import ctypes

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
MIB = 2**20
"""


def run_without_malloc_tunables(script: str, *args: str) -> str:
    """Run a Python ``script`` in a child process without the calling
    environment's glibc malloc tunables; its standard output."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith('MALLOC_')}
    env.pop('GLIBC_TUNABLES', None)
    done = subprocess.run(
        [sys.executable, '-c', script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def runner_and_hook(
    folder, config: str, lines: str, hook_type: str, make_dataset
) -> tuple:
    """A stand-in runner for a child of ``config`` that adds ``lines``
    (the child's config, a model with its data preprocessor, a train
    loader over ``make_dataset(child's config)``, epoch 0, a silent logger)
    and the child's custom hook ``hook_type``, built.

    Args:
        folder: Where the child config is written (e.g. ``tmp_path``).
        config (str): The parent config's path.
        lines (str): The child's lines after its ``_base_``.
        hook_type (str): The hook's registered name.
        make_dataset (callable): The child's config -> what the train
            loader holds.

    Returns:
        tuple: ``(runner, hook)``.
    """
    from types import SimpleNamespace

    from mmdet.registry import HOOKS, MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    child = osp.join(folder, 'child.py')
    with open(child, 'w') as f:
        f.write(f"_base_ = '{config}'\n" + lines)
    cfg = Config.fromfile(child)
    register_all_modules()
    model = SimpleNamespace(
        data_preprocessor=MODELS.build(cfg.model.data_preprocessor)
    )
    loader = SimpleNamespace(
        dataset=make_dataset(cfg), persistent_workers=False
    )
    logger = SimpleNamespace(info=lambda *args: None)
    runner = SimpleNamespace(
        cfg=cfg, model=model, train_dataloader=loader, epoch=0, logger=logger
    )
    (hook_cfg,) = [h for h in cfg.custom_hooks if h.type == hook_type]
    return runner, HOOKS.build(hook_cfg)


def _manager_classes() -> list:
    """mmengine's globally accessible classes imported so far (each
    ``ManagerMixin`` subclass keeps its own instances by name)."""
    from mmengine.utils import ManagerMixin

    found, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@contextlib.contextmanager
def kept_global_instances() -> Iterator[None]:
    """Restore mmengine's global instances on exit: what a Runner (or
    ``register_all_modules()``) creates inside is dropped. The default
    scope it leaves current would steer a later registry build, and its
    visualizer named ``'visualizer'`` (mmdet's default runtime) would be
    handed to the next Runner, which would then write its ``vis_data``
    into this one's work dir (gone once pytest removes a passed test's
    ``tmp_path``). Classes first imported inside start empty again."""
    saved = {cls: copy.copy(cls._instance_dict) for cls in _manager_classes()}
    try:
        yield
    finally:
        for cls in _manager_classes():
            cls._instance_dict = saved.get(cls, type(cls._instance_dict)())


def checkpoint_and_image(folder, variant: str, size: int) -> tuple:
    """Files for a deploy tool run: D-FINE ``variant``'s conditioned
    weights (``<variant>.pth``) and a synthetic ``size`` x ``size`` image
    (``image.png``) in ``folder``. Returns their paths."""
    import cv2

    from dfine_mm.testing import conditioned_state_dict, synthetic_images

    checkpoint = osp.join(str(folder), f'{variant}.pth')
    torch.save(dict(state_dict=conditioned_state_dict(variant)), checkpoint)
    image = osp.join(str(folder), 'image.png')
    pixels = synthetic_images(size, size, 1)[0].permute(1, 2, 0) * 255
    cv2.imwrite(image, pixels.numpy().astype('uint8'))
    return checkpoint, image


def load_tool(name: str):
    """``tools/{name}.py`` imported as a module."""
    path = osp.join(REPO_ROOT, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_train_options(data_root: str, work_dir: str) -> dict:
    """``--cfg-options`` that shrink the demo config to seconds per epoch:
    64 px images, 20 queries, 2 images per batch, no workers."""
    pipeline_scale = (64, 64)
    options = {
        'work_dir': work_dir,
        'model.num_queries': 20,
        'model.dn_cfg.num_denoising': 10,
        'model.test_cfg.max_per_img': 20,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.batch_size': 4,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.batch_size': 4,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'default_hooks.logger.interval': 1,
        'param_scheduler.0.end': 4,
    }
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = data_root + '/'
    options['val_evaluator.ann_file'] = (
        data_root + '/annotations/instances_val.json'
    )
    options['test_evaluator.ann_file'] = options['val_evaluator.ann_file']
    options['train_dataloader.dataset.pipeline.2.scale'] = pipeline_scale
    options['val_dataloader.dataset.pipeline.1.scale'] = pipeline_scale
    options['test_dataloader.dataset.pipeline.1.scale'] = pipeline_scale
    return options


def cli_options(options: dict) -> list:
    """``--cfg-options`` arguments (``key=value``) for a dict of options;
    tuples become ``(a,b)``."""
    args = []
    for key, value in options.items():
        if isinstance(value, tuple):
            value = '(' + ','.join(map(str, value)) + ')'
        args.append(f'{key}={value}')
    return args


def det_samples(counts, height, width, num_classes=5, seed=0):
    """One ``DetDataSample`` per entry of ``counts`` with that many random
    ground-truth boxes (xyxy pixels inside a ``height`` x ``width`` image,
    at least 4 px wide and high) and labels in [0, num_classes)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    generator = torch.Generator().manual_seed(seed)
    size = torch.tensor([width, height], dtype=torch.float32)
    result = []
    for count in counts:
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(height, width),
                batch_input_shape=(height, width),
                scale_factor=(1.0, 1.0),
            )
        )
        xy = torch.rand(count, 2, generator=generator) * size * 0.6
        wh = torch.rand(count, 2, generator=generator) * size * 0.3 + 4
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(
                0, num_classes, (count,), generator=generator
            ),
        )
        result.append(sample)
    return result


class MMEngineLogRecords(logging.Handler):
    """Collects what mmengine's current logger emits (``print_log(...,
    logger='current')``), which pytest's ``caplog`` does not see: attach
    with ``with MMEngineLogRecords() as records:``; ``records.messages``
    lists the formatted messages."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> 'MMEngineLogRecords':
        from mmengine.logging import MMLogger

        self.logger = MMLogger.get_current_instance()
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)


def load_script(relative_path: str):
    """Import a script of the repository (e.g. ``'tools/infer.py'``) as a
    module, to call its ``main(argv)``."""
    import importlib.util

    path = osp.join(REPO_ROOT, relative_path)
    name = 'script_' + osp.splitext(relative_path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_transformers_dfine(folder, variant: str, num_labels: int) -> None:
    """Write a transformers ``DFineForObjectDetection`` of ``variant`` as
    ``folder/model.safetensors``, as real files store it (tied weights
    once)."""
    from safetensors.torch import save_file

    from dfine_mm.testing import build_transformers_dfine

    reference = build_transformers_dfine(variant, num_labels=num_labels)
    state = {
        k: v.contiguous()
        for k, v in reference.state_dict().items()
        if not k.startswith(('class_embed', 'bbox_embed'))
    }
    save_file(state, osp.join(str(folder), 'model.safetensors'))


#: loss-term names of the original D-FINE / DEIM criteria -> dfine_mm's
LOSS_TERMS = dict(vfl='loss_cls', mal='loss_cls', bbox='loss_bbox',
                  giou='loss_iou', fgl='loss_fgl', ddf='loss_ddf')  # fmt: skip


def our_loss_key(original: str, layers: int = 3) -> str:
    """``loss_giou_aux_1`` -> ``d1.loss_iou``, ``loss_vfl_pre`` ->
    ``pre_loss_cls``, ``loss_bbox_enc_0`` -> ``enc_loss_bbox``; with
    denoising (``layers`` decoder layers): ``loss_giou_dn_1`` ->
    ``d1.dn_loss_iou``, ``loss_vfl_dn_{layers - 1}`` -> ``dn_loss_cls``,
    ``loss_bbox_dn_pre`` -> ``dn_pre_loss_bbox``."""
    parts = original.split('_')
    term = LOSS_TERMS[parts[1]]
    if len(parts) == 2:
        return term
    if parts[2] == 'aux':
        return f'd{parts[3]}.{term}'
    if parts[2] == 'dn':
        if parts[3] == 'pre':
            return f'dn_pre_{term}'
        layer = int(parts[3])
        return f'dn_{term}' if layer == layers - 1 else f'd{layer}.dn_{term}'
    return f'{parts[2]}_{term}'


def read_layout(name: str) -> list:
    """``(key, shape, dtype name)`` of every entry of
    ``tests/data/state_dict_keys/{name}.txt``, in the file's order."""
    entries = []
    with open(osp.join(STATE_DICT_KEYS, f'{name}.txt')) as f:
        for line in f:
            key, shape, dtype = line.rstrip('\n').split('\t')
            shape = tuple(int(s) for s in shape.strip('()').split(',') if s)
            entries.append((key, shape, dtype))
    return entries


def layout_state_dict(name: str) -> dict:
    """A state dict with exactly the keys, shapes and dtypes of a layout
    file (``read_layout``): floats drawn in [0.5, 1.5) from one generator
    (seed 0), integers and booleans ones."""
    state_dict = {}
    gen = torch.Generator().manual_seed(0)
    for key, shape, dtype in read_layout(name):
        if dtype == 'float32':
            state_dict[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state_dict[key] = torch.ones(shape, dtype=LAYOUT_DTYPES[dtype])
    return state_dict


class NormGradFormats(TorchDispatchMode):
    """Records, for each batch-norm backward run under it, whether its input
    and gradient are dense in the format ``DFineChannelsLastHook`` has it
    compute in (``dense``): channels-last, channels-first when narrow."""

    def __init__(self) -> None:
        super().__init__()
        self.dense: List[bool] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.native_batch_norm_backward.default:
            from dfine_mm.engine.hooks.channels_last_hook import (
                MIN_CHANNELS_LAST_NORM,
            )

            grad, x = args[0], args[1]
            wide = x.shape[1] >= MIN_CHANNELS_LAST_NORM
            fmt = torch.channels_last if wide else torch.contiguous_format
            self.dense.append(
                grad.is_contiguous(memory_format=fmt)
                and x.is_contiguous(memory_format=fmt)
            )
        return func(*args, **(kwargs or {}))


class HostReads(TorchDispatchMode):
    """Counts the ATen calls run under it that read tensor values to the
    host (each a synchronisation on CUDA): scalar reads (``.item()``,
    ``.tolist()``, a tensor's truth value), operators whose output size
    depends on the values, and indexing with a boolean mask."""

    SIZED_BY_VALUES = ('nonzero', '_unique2', 'unique_dim', 'masked_select')

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        masked = name == 'index' and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool
            for i in args[1]
        )
        if masked or name in ('_local_scalar_dense', *self.SIZED_BY_VALUES):
            self.count += 1
        return func(*args, **(kwargs or {}))
