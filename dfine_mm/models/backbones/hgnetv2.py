"""PP-HGNetV2 (B0-B6), the backbone of D-FINE.

Behaviour follows ``src/nn/backbone/hgnetv2.py`` of the official D-FINE repo
(https://github.com/Peterande/D-FINE, Apache-2.0); submodule names are the
official ones, so official and ImageNet ``PPHGNetV2_*_stage1.pth`` state
dicts load 1:1 (see :mod:`dfine_mm.converters.backbone_keys`).

Differences from upstream:

* Freezing uses mmdet's ``frozen_stages`` (see :class:`HGNetV2`); frozen
  modules are also kept in eval mode, as in mmdet backbones, whereas upstream
  only sets ``requires_grad=False``. Identical for the released configs
  (only L and X freeze, and those use frozen norms).
* ``norm_eval`` (mmdet convention) is new.
* Stages after the last one in ``out_indices`` are built (their weights are
  in the checkpoints) but not run.
* No download or ``exit()`` in ``__init__``: pretrained weights are loaded
  through ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
"""

from typing import Sequence, Tuple

from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from dfine_mm.models.layers.hg_stage import HGStage
from dfine_mm.models.layers.hgnetv2_stem import StemBlock


@MODELS.register_module()
class HGNetV2(BaseModule):
    """PP-HGNetV2 backbone of `D-FINE <https://arxiv.org/abs/2410.13842>`_.

    HGNetV2 comes from PaddleClas (PP-HGNetV2). The stem has stride 4 and
    the four stages have output strides 4, 8, 16 and 32. D-FINE uses B0
    (N, S), B2 (M), B4 (L) and B5 (X)::

        arch  use_lab  out_indices  frozen_stages  freeze_norm
        B0    True     (2, 3) N     -1             False
                       (1, 2, 3) S
        B2    True     (1, 2, 3)    -1             False
        B4    False    (1, 2, 3)    0              True
        B5    False    (1, 2, 3)    0              True

    Args:
        arch (str): One of ``'B0'`` ... ``'B6'``. Defaults to ``'B4'``.
        use_lab (bool): Put a learnable affine block (``y = s * x + b``,
            two scalars) after every activated conv. Defaults to False.
        out_indices (Sequence[int]): Stages (0-3, strictly increasing)
            whose outputs are returned; stage i has stride ``4 * 2**i``.
            Stages after the last one are not run, so their parameters get
            no gradient. Defaults to (1, 2, 3).
        frozen_stages (int): -1 freezes nothing, 0 freezes the stem, k >= 1
            the stem and stages 0 .. k-1 (``requires_grad=False`` and eval
            mode). Upstream ``freeze_at=-1`` is -1; ``freeze_at=f >= 0`` is
            0 with ``freeze_stem_only=True`` (the released L/X configs) and
            ``f + 1`` with ``freeze_stem_only=False``. Defaults to -1.
        freeze_norm (bool): Build every norm as a
            :class:`~dfine_mm.models.layers.frozen_batch_norm.FrozenBatchNorm2d`
            (statistics and affine are buffers, never updated). Defaults to
            False.
        norm_eval (bool): Keep the BatchNorm layers in eval mode (running
            statistics frozen) when the model is in train mode. Defaults to
            False.
        init_cfg (:obj:`ConfigDict` or dict or list[dict], optional):
            Initialization config, e.g. ``dict(type='Pretrained',
            checkpoint=...)``. Defaults to None (PyTorch's default init, as
            upstream).
    """

    # stem: (in, mid, out); stages: (in, mid, out, num_blocks, downsample,
    # light_block, kernel_size, layer_num) for stages 0-3.
    arch_settings = {
        'B0': dict(
            stem=(3, 16, 16),
            stages=(
                (16, 16, 64, 1, False, False, 3, 3),
                (64, 32, 256, 1, True, False, 3, 3),
                (256, 64, 512, 2, True, True, 5, 3),
                (512, 128, 1024, 1, True, True, 5, 3),
            ),
        ),
        'B1': dict(
            stem=(3, 24, 32),
            stages=(
                (32, 32, 64, 1, False, False, 3, 3),
                (64, 48, 256, 1, True, False, 3, 3),
                (256, 96, 512, 2, True, True, 5, 3),
                (512, 192, 1024, 1, True, True, 5, 3),
            ),
        ),
        'B2': dict(
            stem=(3, 24, 32),
            stages=(
                (32, 32, 96, 1, False, False, 3, 4),
                (96, 64, 384, 1, True, False, 3, 4),
                (384, 128, 768, 3, True, True, 5, 4),
                (768, 256, 1536, 1, True, True, 5, 4),
            ),
        ),
        'B3': dict(
            stem=(3, 24, 32),
            stages=(
                (32, 32, 128, 1, False, False, 3, 5),
                (128, 64, 512, 1, True, False, 3, 5),
                (512, 128, 1024, 3, True, True, 5, 5),
                (1024, 256, 2048, 1, True, True, 5, 5),
            ),
        ),
        'B4': dict(
            stem=(3, 32, 48),
            stages=(
                (48, 48, 128, 1, False, False, 3, 6),
                (128, 96, 512, 1, True, False, 3, 6),
                (512, 192, 1024, 3, True, True, 5, 6),
                (1024, 384, 2048, 1, True, True, 5, 6),
            ),
        ),
        'B5': dict(
            stem=(3, 32, 64),
            stages=(
                (64, 64, 128, 1, False, False, 3, 6),
                (128, 128, 512, 2, True, False, 3, 6),
                (512, 256, 1024, 5, True, True, 5, 6),
                (1024, 512, 2048, 2, True, True, 5, 6),
            ),
        ),
        'B6': dict(
            stem=(3, 48, 96),
            stages=(
                (96, 96, 192, 2, False, False, 3, 6),
                (192, 192, 512, 3, True, False, 3, 6),
                (512, 384, 1024, 6, True, True, 5, 6),
                (1024, 768, 2048, 3, True, True, 5, 6),
            ),
        ),
    }

    def __init__(
        self,
        arch: str = 'B4',
        use_lab: bool = False,
        out_indices: Sequence[int] = (1, 2, 3),
        frozen_stages: int = -1,
        freeze_norm: bool = False,
        norm_eval: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise ValueError(
                f'Unknown HGNetV2 arch {arch!r}; valid archs are '
                f'{", ".join(self.arch_settings)}.'
            )
        setting = self.arch_settings[arch]
        num_stages = len(setting['stages'])
        self.out_indices = self._check_out_indices(out_indices, num_stages)
        if (
            not isinstance(frozen_stages, int)
            or isinstance(frozen_stages, bool)
            or not -1 <= frozen_stages <= num_stages
        ):
            raise ValueError(
                f'frozen_stages must be an int in [-1, {num_stages}] (-1: '
                f'nothing, 0: the stem, k: the stem and stages 0..k-1), got '
                f'{frozen_stages!r}.'
            )
        self.arch = arch
        self.use_lab = use_lab
        self.frozen_stages = frozen_stages
        self.freeze_norm = freeze_norm
        self.norm_eval = norm_eval
        self.out_channels = tuple(
            setting['stages'][i][2] for i in self.out_indices
        )
        self.out_strides = tuple(4 * 2**i for i in self.out_indices)

        self.stem = StemBlock(
            *setting['stem'], use_lab=use_lab, freeze_norm=freeze_norm
        )
        self.stages = nn.ModuleList(
            HGStage(*stage, use_lab=use_lab, freeze_norm=freeze_norm)
            for stage in setting['stages']
        )
        # Which stages to return; running stops after the last of them.
        self._returned = tuple(
            i in self.out_indices for i in range(self.out_indices[-1] + 1)
        )
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(
        out_indices: Sequence[int], num_stages: int
    ) -> Tuple[int, ...]:
        valid = tuple(range(num_stages))
        message = (
            f'out_indices must be a non-empty, strictly increasing sequence '
            f'of stage indices from {valid} (output strides 4, 8, 16, 32), '
            f'got {out_indices!r}.'
        )
        if isinstance(out_indices, (str, bytes)) or not isinstance(
            out_indices, Sequence
        ):
            raise ValueError(message)
        indices = tuple(out_indices)
        if (
            not indices
            or any(
                isinstance(i, bool) or not isinstance(i, int) or i not in valid
                for i in indices
            )
            or any(a >= b for a, b in zip(indices, indices[1:]))
        ):
            raise ValueError(message)
        return indices

    def _freeze_stages(self) -> None:
        """Freeze the stem and stages ``0 .. frozen_stages - 1``."""
        if self.frozen_stages < 0:
            return
        frozen = [self.stem, *list(self.stages)[: self.frozen_stages]]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'HGNetV2':
        """Set train mode, keeping frozen modules (and, with ``norm_eval``,
        every BatchNorm) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> None:
        """Fold every norm into its conv for inference (eval mode).

        Not part of the original's ``deploy()`` (which leaves the backbone
        as it is): the state dict then holds biased convs without ``bn``.
        """
        self.eval()
        for module in self.modules():
            if module is not self and hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Extract multi-level features.

        Args:
            x (Tensor): Images of shape (N, 3, H, W). D-FINE feeds RGB in
                [0, 1] without mean/std normalisation.

        Returns:
            tuple[Tensor]: One map per entry of ``out_indices``, stage i of
            shape (N, C_i, ~H / 2**(i + 2), ~W / 2**(i + 2)).
        """
        x = self.stem(x)
        outs = []
        for stage, returned in zip(self.stages, self._returned):
            x = stage(x)
            if returned:
                outs.append(x)
        return tuple(outs)
