"""Optimizer parameter groups chosen by regular expressions on names."""

import re
from typing import Dict, List, Optional

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DFineOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Parameter groups as the original D-FINE recipe defines them.

    ``paramwise_cfg = dict(groups=dict(NAME=dict(pattern=REGEX, lr=...),
    ...))`` puts every trainable parameter into the first group whose
    pattern matches its name (``re.findall``, i.e. anywhere in the name, as
    the original does); the rest use the optimizer's defaults. Each group
    may set ``lr`` and ``weight_decay`` (absolute values) or ``lr_mult`` and
    ``decay_mult`` (relative to the defaults). Keyed by name, a child config
    changes one group (``groups=dict(backbone=dict(lr=1e-5))``) or drops it
    (``NAME=None``); a list of groups (unnamed) works too. The group sizes
    are logged.

    Example (D-FINE-S): the backbone at half the LR, no weight decay on
    the norms and biases of the rest::

        paramwise_cfg=dict(groups=dict(
            backbone=dict(pattern=r'^(?=.*backbone)(?!.*norm|bn).*$',
                          lr=1e-4),
            backbone_norm=dict(pattern=r'^(?=.*backbone)(?=.*norm|bn).*$',
                               lr=1e-4, weight_decay=0.0),
            norm=dict(pattern=r'^(?!.*backbone)(?=.*(?:norm|bn|bias)).*$',
                      weight_decay=0.0),
        ))
    """

    def add_params(
        self,
        params: List[dict],
        module: nn.Module,
        prefix: str = '',
        is_dcn_module: Optional[int] = None,
    ) -> None:
        groups_cfg = self.paramwise_cfg.get('groups')
        if groups_cfg is None:
            super().add_params(params, module, prefix, is_dcn_module)
            return
        unknown = set(self.paramwise_cfg) - {'groups'}
        if unknown:
            raise ValueError(
                f'DFineOptimWrapperConstructor takes only paramwise_cfg.'
                f'groups, got also {sorted(unknown)}'
            )
        named = (
            list(groups_cfg.items())
            if isinstance(groups_cfg, dict)
            else [(str(i), g) for i, g in enumerate(groups_cfg)]
        )
        named = [(name, g) for name, g in named if g is not None]
        missing = [name for name, g in named if 'pattern' not in g]
        if missing:
            raise ValueError(
                f'paramwise_cfg.groups {missing} have no pattern (a child '
                'config can change a group of its base only by its name)'
            )
        groups_cfg = [g for _, g in named]
        patterns = [re.compile(g['pattern']) for g in groups_cfg]
        groups: List[Dict] = [
            dict(params=[], **self._group_options(g)) for g in groups_cfg
        ]
        default = dict(params=[])
        counts = [[0, 0] for _ in range(len(groups) + 1)]
        for name, param in module.named_parameters(prefix=prefix):
            if not param.requires_grad:
                continue
            index = next(
                (i for i, p in enumerate(patterns) if p.findall(name)),
                len(groups),
            )
            (groups[index] if index < len(groups) else default)[
                'params'
            ].append(param)
            counts[index][0] += 1
            counts[index][1] += param.numel()
        for index, (tensors, numel) in enumerate(counts):
            label = (
                f'{named[index][0]}: {groups_cfg[index]["pattern"]}'
                if index < len(groups)
                else 'default'
            )
            print_log(
                f'param group {index} ({label}): {tensors} tensors, '
                f'{numel} parameters',
                logger='current',
            )
        params.extend(g for g in groups if g['params'])
        if default['params']:
            params.append(default)

    def _group_options(self, cfg: dict) -> dict:
        """Absolute lr / weight_decay of a group."""
        options = {}
        if 'lr' in cfg:
            options['lr'] = cfg['lr']
        elif 'lr_mult' in cfg:
            options['lr'] = self.base_lr * cfg['lr_mult']
        if 'weight_decay' in cfg:
            options['weight_decay'] = cfg['weight_decay']
        elif 'decay_mult' in cfg:
            options['weight_decay'] = self.base_wd * cfg['decay_mult']
        return options
