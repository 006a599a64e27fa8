"""Make tests/data/state_dict_keys/deim_{n,s,m,l,x}.txt with the original
DEIM-D-FINE models.

Usage (the DEIM source tree, Intellindust-AI-Lab/DEIM at 09d35d5)::

    python tests/data/deim/make_keys_fixture.py /path/to/DEIM

For each variant, reads ``configs/deim_dfine/deim_hgnetv2_{v}_coco.yml``
the way the original does (``__include__`` files first, in order, then the
including file on top; dicts merge key by key, anything else is replaced),
builds the original ``DEIM`` (``engine/deim/deim.py``) from
``HGNetv2``, ``HybridEncoder`` and ``DFINETransformer`` with the merged
sections as keyword arguments plus the top-level values the classes share
(``__share__``: ``num_classes``, ``eval_spatial_size``), on the CPU in
train mode, and writes one line per entry of its state dict: key, shape
(a Python tuple, e.g. ``(256,)``, ``()``) and dtype (``float32``), tab
separated, in state-dict order (the format of ``official_{v}.txt``).
Only change to the configs: ``pretrained=False`` for the backbone (no
ImageNet download; the keys do not depend on it).

Stand-ins (see make_forward_fixture.py's ``load_original``): only the
modules above and what they import are loaded; ``register`` is a no-op
and ``torchvision.ops.boxes`` an unused stub (the package's top level
needs torchvision and tensorboard, which are not installed here).
"""

import copy
import importlib
import importlib.util
import os.path as osp
import sys

import torch
import yaml

HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, '..', 'state_dict_keys')
VARIANTS = ('n', 's', 'm', 'l', 'x')


def forward_fixture_module():
    spec = importlib.util.spec_from_file_location(
        'make_forward_fixture', osp.join(HERE, 'make_forward_fixture.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def merge(base, top):
    """Put ``top`` over ``base`` in place: dicts recursively, else
    replace."""
    for key, value in top.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def read_config(path):
    """A yml config with its ``__include__`` files resolved."""
    with open(path) as f:
        own = yaml.load(f, Loader=yaml.Loader) or {}
    merged = {}
    for include in own.pop('__include__', []):
        include = osp.expanduser(include)
        if not osp.isabs(include):
            include = osp.join(osp.dirname(path), include)
        merge(merged, read_config(include))
    return merge(merged, own)


def build(cls, cfg, **overrides):
    kwargs = dict(cfg.get(cls.__name__) or {})
    for name in getattr(cls, '__share__', []):
        if name in cfg:
            kwargs[name] = cfg[name]
    kwargs.update(overrides)
    return cls(**kwargs)


def main(root):
    hgnetv2_cls, encoder_cls, decoder_cls = (
        forward_fixture_module().load_original(root)
    )
    deim_cls = importlib.import_module('engine.deim.deim').DEIM
    for variant in VARIANTS:
        path = osp.join(
            root, 'configs', 'deim_dfine', f'deim_hgnetv2_{variant}_coco.yml'
        )
        cfg = read_config(path)
        assert cfg['model'] == 'DEIM', cfg['model']
        parts = (cfg['DEIM'][k] for k in ('backbone', 'encoder', 'decoder'))
        assert tuple(parts) == ('HGNetv2', 'HybridEncoder',
                                'DFINETransformer'), cfg['DEIM']  # fmt: skip
        model = deim_cls(
            build(hgnetv2_cls, cfg, pretrained=False),
            build(encoder_cls, cfg),
            build(decoder_cls, cfg),
        ).train()
        lines = [
            f'{key}\t{tuple(value.shape)}\t'
            f'{str(value.dtype).replace("torch.", "")}\n'
            for key, value in model.state_dict().items()
        ]
        with open(osp.join(OUT, f'deim_{variant}.txt'), 'w') as f:
            f.writelines(lines)
        print(variant, len(lines), 'entries;', cfg['HGNetv2'])


if __name__ == '__main__':
    torch.manual_seed(0)
    main(sys.argv[1])
