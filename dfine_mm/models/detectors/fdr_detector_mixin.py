"""What turns one of mmdet's two-stage DETRs into its FDR version."""

import copy
from typing import Dict

from mmdet.structures import SampleList
from torch import Tensor

from ..utils.gt_labels import check_sample_labels

#: decoder keys FDR adds to mmdet's decoder configs
FDR_DECODER_KEYS = ('reg_max', 'reg_scale', 'up', 'eval_idx')


class FDRDetectorMixin:
    """Shared by the FDR versions of mmdet's DETRs (DINO, Deformable-DETR).

    The host class names its FDR decoder (``fdr_decoder_type``, built from
    the decoder config with the FDR keys) and the head type its config
    needs (``fdr_head_type``, for error messages). The mixin goes before
    the mmdet detector in the bases; it builds the FDR decoder in place of
    mmdet's, checks at build time that head and decoder agree, checks the
    labels before a training step, and gives ``switch_to_deploy``.
    """

    fdr_decoder_type: type
    fdr_head_type: str

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        head, decoder = self.bbox_head, self.decoder
        if not hasattr(head, 'pre_reg_branch'):
            raise ValueError(
                f'{type(self).__name__} needs an FDR head: set '
                f"bbox_head.type='{self.fdr_head_type}'"
            )
        for key in ('reg_max', 'eval_idx'):
            if getattr(head, key) != getattr(decoder, key):
                raise ValueError(
                    f'bbox_head.{key} ({getattr(head, key)}) and decoder.'
                    f'{key} ({getattr(decoder, key)}) differ; set both to '
                    'the same value'
                )

    def _init_layers(self) -> None:
        """The mmdet detector's layers, with the FDR decoder."""
        fdr_cfg = copy.deepcopy(self.decoder)
        for key in FDR_DECODER_KEYS:
            self.decoder.pop(key, None)
        super()._init_layers()
        self.decoder = self.fdr_decoder_type(**fdr_cfg)

    def _fdr_outputs(self, out: Dict[str, Tensor]) -> Dict:
        """The decoder outputs the head takes, with the weighting
        function's parameters (losses; ``edge_std`` in eval); in eval
        without the layer-0 boxes and anchors."""
        out['fdr_params'] = (self.decoder.up, self.decoder.reg_scale)
        if not self.training:
            out.pop('pre_references')
            out.pop('anchors')
        return out

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """Training losses, after checking the ground-truth labels."""
        check_sample_labels(batch_data_samples, self.bbox_head.num_classes)
        return super().loss(batch_inputs, batch_data_samples)

    def switch_to_deploy(self) -> None:
        """Drop what inference never runs (decoder layers after
        ``eval_idx``, their branches)."""
        self.eval()
        for module in (self.decoder, self.bbox_head):
            if hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()
