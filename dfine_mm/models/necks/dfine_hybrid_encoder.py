"""The D-FINE hybrid encoder (AIFI + RepNCSPELAN4 FPN/PAN) as an mmdet neck.

Re-implemented from the behaviour of ``HybridEncoder`` in D-FINE
(https://github.com/Peterande/D-FINE, Apache-2.0), itself modified from
RT-DETR (https://github.com/lyuwenyu/RT-DETR, Apache-2.0). Module names
equal the official ones in training and in deploy form, so the
``encoder.*`` entries of official checkpoints load after dropping their
``encoder.`` prefix (see ``dfine_mm/converters/encoder_keys.py``).

Deviations from upstream:

* The AIFI position embedding is computed for the actual map size and
  cached per size; upstream precomputes it for ``eval_spatial_size`` in
  eval mode and fails on other sizes (upstream issues #33, #71, #222).
* On non-square maps the position embedding orders positions row-major
  (as transformers' D-FINE does); upstream scrambles rows and columns
  there. Square maps are identical.
* Upstream's unused ``act`` argument and its ``feat_strides`` /
  ``eval_spatial_size`` arguments (only needed for the precomputed
  embedding) are not exposed.
"""

from collections import OrderedDict
from typing import List, Sequence, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from dfine_mm.models.layers.aifi import AIFIEncoder
from dfine_mm.models.layers.conv_norm_layer import ConvNormLayer
from dfine_mm.models.layers.grad_aware_silu import GradAwareSiLU
from dfine_mm.models.layers.rep_ncsp_elan import RepNCSPELAN4
from dfine_mm.models.layers.sc_down import SCDown

# ``enc_act`` names accepted (the official config strings) -> mmcv config.
_ENCODER_ACTIVATIONS = {
    'gelu': dict(type='GELU'),
    'relu': dict(type='ReLU'),
    'silu': dict(type='SiLU'),
}


@MODELS.register_module()
class DFineHybridEncoder(BaseModule):
    """Hybrid encoder of D-FINE: per-level projection, AIFI transformer on
    the coarsest level(s), top-down FPN and bottom-up PAN.

    `D-FINE: Redefine Regression Task in DETRs as Fine-grained Distribution
    Refinement <https://arxiv.org/abs/2410.13842>`_. Behaviour follows the
    official repo <https://github.com/Peterande/D-FINE> (Apache-2.0).

    Per level ``i`` (finest first) the input ``(B, in_channels[i], H_i,
    W_i)`` is projected to ``hidden_dim`` channels (1x1 conv + BN); the
    levels in ``use_encoder_idx`` go through an AIFI encoder; the FPN then
    walks from the coarsest level down (1x1 lateral conv, x2 nearest
    upsampling, concat, RepNCSPELAN4) and the PAN back up (SCDown, concat,
    RepNCSPELAN4). ``H_i`` must be exactly ``2 * H_{i+1}`` (same for W),
    which holds for images padded to a multiple of the coarsest stride.

    Official settings (``in_channels`` / ``hidden_dim`` /
    ``dim_feedforward`` / ``expansion`` / ``depth_mult``, ``use_encoder_idx``
    is the last level):

    * N: (512, 1024) / 128 / 512 / 0.34 / 0.5
    * S: (256, 512, 1024) / 256 / 1024 / 0.5 / 0.34
    * M: (384, 768, 1536) / 256 / 1024 / 1.0 / 0.67
    * L: (512, 1024, 2048) / 256 / 1024 / 1.0 / 1.0
    * X: (512, 1024, 2048) / 384 / 2048 / 1.0 / 1.0

    Args:
        in_channels (Sequence[int]): Channels of each input level, finest
            first. Defaults to (512, 1024, 2048).
        hidden_dim (int): Channels of every projected map and output;
            divisible by 4 and by ``num_heads``. Defaults to 256.
        num_heads (int): AIFI attention heads. Defaults to 8.
        dim_feedforward (int): AIFI FFN hidden width. Defaults to 1024.
        dropout (float): AIFI dropout. Defaults to 0.0.
        enc_act (str): AIFI FFN activation, one of ``'gelu'``, ``'relu'``,
            ``'silu'``. Defaults to ``'gelu'``.
        use_encoder_idx (Sequence[int]): Input levels that get an AIFI
            encoder. Defaults to (2,).
        num_encoder_layers (int): Layers per AIFI encoder (0 disables
            AIFI). Defaults to 1.
        pe_temperature (float): Position embedding temperature.
            Defaults to 10000.
        expansion (float): Width factor of the ELAN branches:
            ``branch = round(expansion * hidden_dim // 2)``. Defaults to 1.0.
        depth_mult (float): Depth factor: ``round(3 * depth_mult)`` RepVGG
            bottlenecks per CSP layer. Defaults to 1.0.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): mmengine
            initialization config. Defaults to None (PyTorch defaults, as
            upstream).
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (512, 1024, 2048),
        hidden_dim: int = 256,
        num_heads: int = 8,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
        enc_act: str = 'gelu',
        use_encoder_idx: Sequence[int] = (2,),
        num_encoder_layers: int = 1,
        pe_temperature: float = 10000.0,
        expansion: float = 1.0,
        depth_mult: float = 1.0,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = tuple(in_channels)
        use_encoder_idx = tuple(use_encoder_idx)
        # NOTE: floor division on a float, then banker's rounding, exactly
        # as upstream computes them (e.g. N: 0.34 * 128 // 2 -> 21).
        branch_channels = round(expansion * hidden_dim // 2)
        num_blocks = round(3 * depth_mult)
        self._check_args(
            in_channels,
            hidden_dim,
            num_heads,
            enc_act,
            use_encoder_idx,
            num_encoder_layers,
            branch_channels,
        )
        self.in_channels = in_channels
        self.hidden_dim = hidden_dim
        self.use_encoder_idx = use_encoder_idx
        self.num_levels = len(in_channels)

        self.input_proj = nn.ModuleList(
            nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(channels, hidden_dim, 1, bias=False),
                    norm=nn.BatchNorm2d(hidden_dim),
                )
            )
            for channels in in_channels
        )
        self.encoder = nn.ModuleList(
            AIFIEncoder(
                num_encoder_layers,
                hidden_dim,
                num_heads,
                dim_feedforward,
                _ENCODER_ACTIVATIONS[enc_act],
                dropout=dropout,
                temperature=pe_temperature,
            )
            for _ in use_encoder_idx
        )
        # NOTE: the ELAN blocks always use SiLU (upstream never forwards
        # its ``act`` argument to them); lateral convs and SCDown have no
        # activation. SiLU in place for inference, not in training.
        silu = dict(type=GradAwareSiLU)
        num_fusions = self.num_levels - 1
        self.lateral_convs = nn.ModuleList(
            ConvNormLayer(hidden_dim, hidden_dim, 1)
            for _ in range(num_fusions)
        )
        self.fpn_blocks = nn.ModuleList(
            RepNCSPELAN4(
                2 * hidden_dim,
                hidden_dim,
                2 * hidden_dim,
                branch_channels,
                num_blocks,
                act_cfg=silu,
            )
            for _ in range(num_fusions)
        )
        self.downsample_convs = nn.ModuleList(
            nn.Sequential(SCDown(hidden_dim, hidden_dim, 3, 2))
            for _ in range(num_fusions)
        )
        self.pan_blocks = nn.ModuleList(
            RepNCSPELAN4(
                2 * hidden_dim,
                hidden_dim,
                2 * hidden_dim,
                branch_channels,
                num_blocks,
                act_cfg=silu,
            )
            for _ in range(num_fusions)
        )

    @staticmethod
    def _check_args(
        in_channels: Tuple[int, ...],
        hidden_dim: int,
        num_heads: int,
        enc_act: str,
        use_encoder_idx: Tuple[int, ...],
        num_encoder_layers: int,
        branch_channels: int,
    ) -> None:
        """Raise ValueError with a hint for inconsistent arguments."""
        if not in_channels:
            raise ValueError('in_channels must name at least one level')
        if hidden_dim % 4:
            raise ValueError(
                f'hidden_dim must be divisible by 4 (the 2-D sin-cos '
                f'position embedding uses C/4 channels per term), got '
                f'{hidden_dim}'
            )
        if hidden_dim % num_heads:
            raise ValueError(
                f'hidden_dim ({hidden_dim}) must be divisible by num_heads '
                f'({num_heads})'
            )
        if enc_act not in _ENCODER_ACTIVATIONS:
            raise ValueError(
                f'enc_act must be one of {sorted(_ENCODER_ACTIVATIONS)}, '
                f'got {enc_act!r}'
            )
        bad = [i for i in use_encoder_idx if not 0 <= i < len(in_channels)]
        if bad:
            raise ValueError(
                f'use_encoder_idx {use_encoder_idx} has entries {bad} out of '
                f'range for {len(in_channels)} input levels (valid: 0 .. '
                f'{len(in_channels) - 1})'
            )
        if len(set(use_encoder_idx)) != len(use_encoder_idx):
            raise ValueError(
                f'use_encoder_idx {use_encoder_idx} repeats a level'
            )
        if num_encoder_layers < 0:
            raise ValueError(
                f'num_encoder_layers must be >= 0, got {num_encoder_layers}'
            )
        if branch_channels < 1:
            raise ValueError(
                f'expansion * hidden_dim // 2 must round to at least one '
                f'channel, got {branch_channels}; increase expansion'
            )

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """Fuse the backbone's multi-level features.

        Args:
            inputs (tuple[Tensor]): One map per level, finest first; level
                ``i`` has shape (B, in_channels[i], H_i, W_i) with
                ``H_i = 2 * H_{i+1}`` and ``W_i = 2 * W_{i+1}``.

        Returns:
            tuple[Tensor]: The PAN outputs, finest first; level ``i`` has
            shape (B, hidden_dim, H_i, W_i).
        """
        self._check_inputs(inputs)
        feats: List[Tensor] = [
            proj(x) for proj, x in zip(self.input_proj, inputs)
        ]
        for encoder, level in zip(self.encoder, self.use_encoder_idx):
            feats[level] = encoder(feats[level])

        # Top-down FPN. ``inner`` holds the maps coarsest first; the stored
        # top map is replaced by its lateral output, which the PAN reuses.
        inner = [feats[-1]]
        for step, (lateral, block) in enumerate(
            zip(self.lateral_convs, self.fpn_blocks)
        ):
            top = lateral(inner[-1])
            inner[-1] = top
            finer = feats[self.num_levels - 2 - step]
            inner.append(self.fuse_top_down(block, top, finer))
        inner.reverse()  # finest first

        # Bottom-up PAN.
        outs = [inner[0]]
        for step, (downsample, block) in enumerate(
            zip(self.downsample_convs, self.pan_blocks)
        ):
            downsampled = downsample(outs[-1])
            coarser = inner[step + 1]
            outs.append(block(torch.cat((downsampled, coarser), dim=1)))
        return tuple(outs)

    def fuse_top_down(
        self, block: nn.Module, top: Tensor, finer: Tensor
    ) -> Tensor:
        """One FPN fusion: ``block`` over the 2x nearest upsampled ``top``
        (B, C, H, W) concatenated with ``finer`` (B, C', 2H, 2W), without
        making either map (:meth:`RepNCSPELAN4.forward` with ``finer``)."""
        return block(top, finer)

    def _check_inputs(self, inputs: Sequence[Tensor]) -> None:
        """Raise ValueError for a wrong number of levels or sizes that do
        not halve from one level to the next."""
        if len(inputs) != self.num_levels:
            raise ValueError(
                f'expected {self.num_levels} feature levels, got {len(inputs)}'
            )
        if torch.jit.is_tracing():  # traced sizes: keep the graph free of it
            return
        for level in range(self.num_levels - 1):
            fine = tuple(inputs[level].shape[-2:])
            coarse = tuple(inputs[level + 1].shape[-2:])
            if fine != (2 * coarse[0], 2 * coarse[1]):
                raise ValueError(
                    f'level {level} has spatial size {fine} but level '
                    f'{level + 1} has {coarse}; each level must be exactly '
                    f'twice the next (pad images to a multiple of the '
                    f'coarsest stride)'
                )

    def switch_to_deploy(self) -> None:
        """Re-parameterize for inference (mmdeploy calls this name).

        Every Conv-BN layer of the laterals, ELAN blocks and SCDowns becomes
        one biased conv (``conv_bn_fused``) and every RepVGG block one 3x3
        conv (``conv``); the outputs are unchanged in eval mode. As in
        upstream's ``deploy()``, the input projections keep their conv + BN
        form, so the state dict matches official deploy-mode checkpoints.
        Calling it again does nothing.
        """
        _switch_children_to_deploy(self)


def _switch_children_to_deploy(module: nn.Module) -> None:
    """Call ``switch_to_deploy`` on the outermost sub-modules that have it
    (each converts its own subtree) and recurse elsewhere."""
    for child in module.children():
        if hasattr(child, 'switch_to_deploy'):
            child.switch_to_deploy()
        else:
            _switch_children_to_deploy(child)
