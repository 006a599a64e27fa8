"""The original D-FINE model and criterion, built from a checkout of its
code (Peterande/D-FINE), for side-by-side benchmarks.

Nothing of the original is part of this package: :func:`build_official_dfine`
imports its modules from the source tree a user points to. Its package
``__init__`` files pull in its data pipeline, registry and torchvision,
so only the model, criterion and matcher modules are loaded, with small
stand-ins for what they import from elsewhere:

- ``src.core.register``: a decorator that returns the class unchanged (the
  classes are built here with the settings of the variant's YAML files);
- ``src.misc.dist_utils``: one process, no ``torch.distributed`` group;
- ``torchvision.ops.boxes.box_area`` (only when torchvision is not
  installed, and only while the modules are imported): width x height of
  (x1, y1, x2, y2) boxes, as torchvision documents it.
"""

import argparse
import importlib
import os.path as osp
import sys
import types
from typing import Any, Dict, Optional, Sequence, Tuple

import torch.nn as nn

#: the original's module packages loaded without their ``__init__``
_PACKAGES = ('src', 'src.misc', 'src.nn', 'src.nn.backbone', 'src.zoo',
             'src.zoo.dfine')  # fmt: skip


def _bare_package(name: str, root: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [osp.join(root, *name.split('.'))]
    return module


def _torchvision_stand_in() -> Dict[str, types.ModuleType]:
    try:
        import torchvision  # noqa: F401

        return {}
    except ImportError:
        pass
    vision = types.ModuleType('torchvision')
    ops = types.ModuleType('torchvision.ops')
    boxes = types.ModuleType('torchvision.ops.boxes')
    boxes.box_area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    vision.ops, ops.boxes = ops, boxes
    return {'torchvision': vision, 'torchvision.ops': ops,
            'torchvision.ops.boxes': boxes}  # fmt: skip


def check_official_checkout(root: str) -> str:
    """The absolute path of a checkout of the original D-FINE code.

    Args:
        root (str): The folder a user passed (the one holding ``src/`` and
            ``configs/``).

    Returns:
        str: ``root`` made absolute.

    Raises:
        FileNotFoundError: If ``root`` lacks the original's decoder module.
    """
    root = osp.abspath(root)
    decoder = osp.join(root, 'src', 'zoo', 'dfine', 'dfine_decoder.py')
    if not osp.isfile(decoder):
        raise FileNotFoundError(
            f'{root} is not a checkout of the original D-FINE code: '
            f'{decoder} is missing (clone Peterande/D-FINE and pass the '
            'folder that holds src/ and configs/)'
        )
    return root


def check_official_option(parser: argparse.ArgumentParser, root: str) -> None:
    """A tool's ``--compare-official`` checked before anything is built:
    ``parser.error`` (exit status 2, the message on stderr) naming what
    is missing when ``root`` is not a checkout
    (:func:`check_official_checkout`).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        root (str): The folder given to ``--compare-official``.
    """
    try:
        check_official_checkout(root)
    except FileNotFoundError as error:
        parser.error(f'--compare-official: {error}')


def load_official_modules(root: str) -> types.SimpleNamespace:
    """The original's model, criterion and matcher classes.

    Args:
        root (str): A checkout of Peterande/D-FINE (the folder holding
            ``src/`` and ``configs/``).

    Returns:
        types.SimpleNamespace: ``HGNetv2``, ``HybridEncoder``,
        ``DFINETransformer``, ``DFINE``, ``DFINECriterion`` and
        ``HungarianMatcher``.

    Raises:
        FileNotFoundError: If ``root`` is not such a checkout.
        RuntimeError: If another ``src`` package is already imported.
    """
    root = check_official_checkout(root)
    loaded = sys.modules.get('src')
    if loaded is not None and getattr(loaded, '__path__', None) != [
        osp.join(root, 'src')
    ]:
        raise RuntimeError(
            f'a package named src is already imported from {loaded.__path__}'
            '; load the original D-FINE code in a fresh process'
        )
    core = types.ModuleType('src.core')
    core.register = lambda *args, **kwargs: lambda cls: cls
    dist = types.ModuleType('src.misc.dist_utils')
    dist.get_world_size = lambda: 1
    dist.is_dist_available_and_initialized = lambda: False
    modules = {name: _bare_package(name, root) for name in _PACKAGES}
    modules.update({'src.core': core, 'src.misc.dist_utils': dist})
    vision = _torchvision_stand_in()
    for name, module in {**modules, **vision}.items():
        sys.modules.setdefault(name, module)

    def load(name):
        return importlib.import_module(name)

    dfine = 'src.zoo.dfine.'
    try:
        return types.SimpleNamespace(
            HGNetv2=load('src.nn.backbone.hgnetv2').HGNetv2,
            HybridEncoder=load(dfine + 'hybrid_encoder').HybridEncoder,
            DFINETransformer=load(dfine + 'dfine_decoder').DFINETransformer,
            DFINE=load(dfine + 'dfine').DFINE,
            DFINECriterion=load(dfine + 'dfine_criterion').DFINECriterion,
            HungarianMatcher=load(dfine + 'matcher').HungarianMatcher,
        )
    finally:
        # the loaded modules keep their references; other code that looks
        # for torchvision must not find the stand-in
        for name in vision:
            sys.modules.pop(name, None)


def merge_settings(base: Dict[str, Any], child: Dict[str, Any]) -> None:
    """Merge ``child`` into ``base`` in place, as the original's YAML
    ``__include__`` does: dicts merge key by key, anything else replaces."""
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_settings(base[key], value)
        else:
            base[key] = value


def read_official_yaml(path: str) -> Dict[str, Any]:
    """A YAML file of the original with its ``__include__`` files merged
    in (each include first, in order, then the file's own keys).

    Raises:
        FileNotFoundError: If ``path`` or one of its includes is missing.
    """
    import yaml

    if not osp.isfile(path):
        raise FileNotFoundError(f'original D-FINE config not found: {path}')
    with open(path) as f:
        own = yaml.safe_load(f) or {}
    settings: Dict[str, Any] = {}
    for include in own.pop('__include__', []):
        merge_settings(
            settings,
            read_official_yaml(osp.join(osp.dirname(path), include)),
        )
    merge_settings(settings, own)
    return settings


def build_official_dfine(
    root: str,
    variant: str,
    num_classes: int = 80,
    eval_size: Optional[Sequence[int]] = None,
) -> Tuple[nn.Module, nn.Module]:
    """The original D-FINE model (random initialisation, train mode) and
    its training criterion, as its ``configs/dfine/dfine_hgnetv2_{variant}
    _coco.yml`` builds them (no pretrained backbone download).

    Args:
        root (str): A checkout of Peterande/D-FINE.
        variant (str): One of ``'n'``, ``'s'``, ``'m'``, ``'l'``, ``'x'``.
        num_classes (int): Classes of the model and the criterion.
        eval_size (Sequence[int], optional): The (height, width) for which
            its eval mode precomputes anchors and position embeddings (it
            takes no other input size in eval mode). Defaults to the
            config's ``eval_spatial_size`` (640, 640).

    Returns:
        tuple[nn.Module, nn.Module]: ``model(images, targets)`` returns the
        decoder outputs (``pred_logits``, ``pred_boxes``, ... with
        denoising in train mode); ``criterion(outputs, targets)`` the dict
        of weighted loss terms. ``targets``: per image a dict of ``labels``
        (int64, (G,)) and ``boxes`` ((G, 4), normalised cx, cy, w, h).
    """
    classes = load_official_modules(root)
    cfg = read_official_yaml(
        osp.join(root, 'configs', 'dfine', f'dfine_hgnetv2_{variant}_coco.yml')
    )
    if eval_size is not None:
        cfg['eval_spatial_size'] = list(eval_size)
    shared = dict(eval_spatial_size=cfg.get('eval_spatial_size'))
    backbone_cfg = dict(cfg['HGNetv2'], pretrained=False)
    backbone_cfg.pop('local_model_dir', None)
    model = classes.DFINE(
        backbone=classes.HGNetv2(**backbone_cfg),
        encoder=classes.HybridEncoder(**cfg['HybridEncoder'], **shared),
        decoder=classes.DFINETransformer(
            **cfg['DFINETransformer'], num_classes=num_classes, **shared
        ),
    )
    criterion_cfg = dict(cfg['DFINECriterion'])
    matcher_cfg = dict(criterion_cfg.pop('matcher'))
    matcher_cfg.pop('type')
    matcher = classes.HungarianMatcher(
        **matcher_cfg, use_focal_loss=cfg.get('use_focal_loss', True)
    )
    criterion = classes.DFINECriterion(
        matcher=matcher, num_classes=num_classes, **criterion_cfg
    )
    return model.train(), criterion.train()
