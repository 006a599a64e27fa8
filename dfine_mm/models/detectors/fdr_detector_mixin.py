"""What turns one of mmdet's two-stage DETRs into its FDR version."""

from typing import Dict

import torch
from mmdet.models.layers import (
    DeformableDetrTransformerEncoder,
    SinePositionalEncoding,
)
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from torch import Tensor, nn

from ..dense_heads.fdr_deformable_detr_head import FDRDeformableDETRHead
from ..utils.go_lsd import denoising_keepalive
from ..utils.gt_labels import check_sample_labels
from ..utils.inference import prune_for_inference
from ..utils.settings import head_settings


class FDRDetectorMixin:
    """Shared by the FDR versions of mmdet's DETRs (DINO, Deformable-DETR).

    The host class names its FDR decoder class (``fdr_decoder_type``) and
    the head type its config needs (``fdr_head_type``, for messages), and
    builds its query-selection layers in :meth:`_init_query_layers`. The
    mixin goes before the mmdet detector in the bases. It gives the head
    the decoder's ``reg_max`` and ``eval_idx`` (a conflicting head value
    is an error), builds the FDR decoder directly (mmdet's encoder and
    positional encoding as mmdet configures them), checks the labels once
    per training step, keeps the denoising embedding in the graph of a
    batch without ground truth, and gives ``switch_to_deploy``.
    """

    fdr_decoder_type: type
    fdr_head_type: str

    def __init__(self, *args, **kwargs) -> None:
        head_type = (kwargs.get('bbox_head') or {}).get('type')
        if isinstance(head_type, str):
            head_type = MODELS.get(head_type)
        if not (
            isinstance(head_type, type)
            and issubclass(head_type, FDRDeformableDETRHead)
        ):
            raise ValueError(
                f'{type(self).__name__} needs an FDR head: set '
                f"bbox_head.type='{self.fdr_head_type}'"
            )
        kwargs['bbox_head'] = head_settings(
            kwargs.get('bbox_head'),
            kwargs.get('decoder'),
            type(self).__name__,
            keys=('reg_max', 'eval_idx'),
        )
        super().__init__(*args, **kwargs)
        head, decoder = self.bbox_head, self.decoder
        for key in ('reg_max', 'eval_idx'):
            if getattr(head, key) != getattr(decoder, key):
                raise ValueError(
                    f'bbox_head.{key} ({getattr(head, key)}) and decoder.'
                    f'{key} ({getattr(decoder, key)}) differ; set it once, '
                    'on the decoder'
                )

    def _init_layers(self) -> None:
        """Positional encoding, encoder, the FDR decoder, level embeddings
        and the host's query-selection layers."""
        self.positional_encoding = SinePositionalEncoding(
            **self.positional_encoding
        )
        self.encoder = DeformableDetrTransformerEncoder(**self.encoder)
        self.decoder = self.fdr_decoder_type(**self.decoder)
        self.embed_dims = self.encoder.embed_dims
        if 2 * self.positional_encoding.num_feats != self.embed_dims:
            raise ValueError(
                'positional_encoding.num_feats '
                f'({self.positional_encoding.num_feats}) must be half the '
                f'encoder channels ({self.embed_dims})'
            )
        self.level_embed = nn.Parameter(
            torch.empty(self.num_feature_levels, self.embed_dims)
        )  # values from the detector's init_weights
        self._init_query_layers()

    def _init_query_layers(self) -> None:
        """The host's layers after the decoder (query selection)."""
        raise NotImplementedError

    def _fdr_outputs(self, out: Dict[str, Tensor]) -> Dict:
        """The decoder outputs the head takes; in eval without the layer-0
        boxes and anchors."""
        if not self.training:
            out.pop('pre_references')
            out.pop('anchors')
        return out

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """Training losses, after checking the ground-truth labels."""
        check_sample_labels(batch_data_samples, self.bbox_head.num_classes)
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        losses = self.bbox_head.loss(
            **head_inputs, batch_data_samples=batch_data_samples
        )
        losses.update(
            denoising_keepalive(
                getattr(self, 'dn_query_generator', None),
                head_inputs.get('dn_meta'),
            )
        )
        return losses

    def switch_to_deploy(self) -> None:
        """Drop what inference never runs (:func:`prune_for_inference`)."""
        prune_for_inference(self)
