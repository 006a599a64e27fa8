"""transformers' D-FINE with each variant's settings: the numerical
reference of the parity tests (its forward pass equals the official one;
see the project's parity notes)."""

import torch

HGNET_ARCHS = {
    'B0': dict(
        stem_channels=[3, 16, 16],
        stage_in_channels=[16, 64, 256, 512],
        stage_mid_channels=[16, 32, 64, 128],
        stage_out_channels=[64, 256, 512, 1024],
        stage_num_blocks=[1, 1, 2, 1],
        stage_numb_of_layers=[3, 3, 3, 3],
    ),
    'B2': dict(
        stem_channels=[3, 24, 32],
        stage_in_channels=[32, 96, 384, 768],
        stage_mid_channels=[32, 64, 128, 256],
        stage_out_channels=[96, 384, 768, 1536],
        stage_num_blocks=[1, 1, 3, 1],
        stage_numb_of_layers=[4, 4, 4, 4],
    ),
    'B4': dict(
        stem_channels=[3, 32, 48],
        stage_in_channels=[48, 128, 512, 1024],
        stage_mid_channels=[48, 96, 192, 384],
        stage_out_channels=[128, 512, 1024, 2048],
        stage_num_blocks=[1, 1, 3, 1],
        stage_numb_of_layers=[6, 6, 6, 6],
    ),
    'B5': dict(
        stem_channels=[3, 32, 64],
        stage_in_channels=[64, 128, 512, 1024],
        stage_mid_channels=[64, 128, 256, 512],
        stage_out_channels=[128, 512, 1024, 2048],
        stage_num_blocks=[1, 2, 5, 2],
        stage_numb_of_layers=[6, 6, 6, 6],
    ),
}

_THREE = dict(
    feat_strides=[8, 16, 32],
    encode_proj_layers=[2],
    num_feature_levels=3,
    decoder_n_points=[3, 6, 3],
)
TRANSFORMERS_VARIANTS = {
    'n': dict(
        arch='B0', lab=True, out_indices=[3, 4], frozen_bn=False,
        encoder_in_channels=[512, 1024], feat_strides=[16, 32],
        encoder_hidden_dim=128, encoder_ffn_dim=512, encode_proj_layers=[1],
        hidden_expansion=0.34, depth_mult=0.5, d_model=128,
        decoder_in_channels=[128, 128], decoder_ffn_dim=512,
        num_feature_levels=2, decoder_n_points=[6, 6], decoder_layers=3,
    ),
    's': dict(
        arch='B0', lab=True, out_indices=[2, 3, 4], frozen_bn=False,
        encoder_in_channels=[256, 512, 1024], hidden_expansion=0.5,
        depth_mult=0.34, decoder_layers=3, **_THREE,
    ),
    'm': dict(
        arch='B2', lab=True, out_indices=[2, 3, 4], frozen_bn=False,
        encoder_in_channels=[384, 768, 1536], depth_mult=0.67,
        decoder_layers=4, **_THREE,
    ),
    'l': dict(
        arch='B4', lab=False, out_indices=[2, 3, 4], frozen_bn=True,
        encoder_in_channels=[512, 1024, 2048], decoder_layers=6, **_THREE,
    ),
    'x': dict(
        arch='B5', lab=False, out_indices=[2, 3, 4], frozen_bn=True,
        encoder_in_channels=[512, 1024, 2048], encoder_hidden_dim=384,
        encoder_ffn_dim=2048, decoder_in_channels=[384, 384, 384],
        decoder_layers=6, reg_scale=8.0, **_THREE,
    ),
}  # fmt: skip


def build_transformers_dfine(variant: str, num_labels: int = 80):
    """``DFineForObjectDetection`` of a variant, randomly initialised."""
    import transformers

    settings = dict(TRANSFORMERS_VARIANTS[variant])
    arch = settings.pop('arch')
    backbone = transformers.HGNetV2Config(
        **HGNET_ARCHS[arch],
        hidden_sizes=HGNET_ARCHS[arch]['stage_out_channels'],
        use_learnable_affine_block=settings.pop('lab'),
        out_indices=settings.pop('out_indices'),
    )
    config = transformers.DFineConfig(
        backbone_config=backbone,
        freeze_backbone_batch_norms=settings.pop('frozen_bn'),
        num_labels=num_labels,
        **settings,
    )
    return transformers.DFineForObjectDetection(config).eval()


@torch.no_grad()
def perturb_(model: torch.nn.Module, seed: int = 0, scale: float = 0.2):
    """Add noise to every float tensor of ``model`` so that the zero-
    initialised heads, gates and LQEs compute something. Running variances
    stay positive; ``up``, ``reg_scale`` and the anchors precomputed for
    the eval size (the original's ``anchors`` buffer) keep their values."""
    gen = torch.Generator().manual_seed(seed)
    for name, tensor in model.state_dict(keep_vars=True).items():
        if not tensor.is_floating_point() or name.endswith(
            ('.up', 'reg_scale', '.anchors')
        ):
            continue
        if name.endswith('running_var'):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            continue
        std = tensor.std().item() if tensor.numel() > 1 else 0.0
        noise = torch.randn(tensor.shape, generator=gen, dtype=tensor.dtype)
        tensor.add_(scale * (std if std > 0 else 1.0) * noise)
