"""The D-FINE detector in mmdet's DetectionTransformer pipeline."""

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmdet.models.detectors import DetectionTransformer
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from ..layers.dfine_cdn_query_generator import DFineCdnQueryGenerator
from ..layers.dfine_transformer_decoder import DFineTransformerDecoder
from ..utils.checkpoint_shapes import check_checkpoint_shapes
from ..utils.go_lsd import denoising_keepalive
from ..utils.grid_anchors import grid_anchors
from ..utils.gt_labels import check_sample_labels
from ..utils.inference import prune_for_inference, to_channels_last
from ..utils.input_images import check_input_images
from ..utils.query_selection import gather_rows, select_queries
from ..utils.settings import head_settings, inject_setting

Shapes = Tuple[Tuple[int, int], ...]


@MODELS.register_module()
class DFINE(DetectionTransformer):
    """D-FINE: DETR with Fine-grained Distribution Refinement.

    Paper: `D-FINE: Redefine Regression Task in DETRs as Fine-grained
    Distribution Refinement <https://arxiv.org/abs/2410.13842>`_. Written
    from the behaviour of the official code
    (https://github.com/Peterande/D-FINE, Apache-2.0).

    Pipeline: backbone (HGNetV2) -> neck (``DFineHybridEncoder``, the whole
    encoder; ``encoder`` stays None) -> flatten the levels (with a 1x1
    projection when the neck's channels differ from the decoder's, as in
    D-FINE-X) -> query selection on the memory (RT-DETR style: the top-Q
    positions by best class score, their boxes regressed from anchors on
    each level's grid) -> denoising queries in training ->
    :class:`DFineTransformerDecoder` -> ``DFineHead``.

    Anchors are made for the actual feature-map sizes, so one checkpoint
    runs at any input size divisible by 32.

    Args:
        decoder (dict): Config of :class:`DFineTransformerDecoder`.
        num_queries (int): Queries Q. Defaults to 300.
        decoder_in_channels (Sequence[int], optional): Channels of each
            level the neck gives; levels whose channels differ from the
            decoder's get a 1x1 conv + BN projection. Defaults to None
            (no projection).
        dn_cfg (dict, optional): Arguments of
            :class:`DFineCdnQueryGenerator` other than the ones derived
            from the model (``num_classes``, ``embed_dims``,
            ``num_matching_queries``). None disables denoising.
        anchor_grid_size (float): Anchor size on the finest level, relative
            to the image; doubles per level. Defaults to 0.05.
        fdr (bool): Fine-grained Distribution Refinement in the decoder and
            head (given to both); False regresses boxes RT-DETR-style, the
            paper's ablation baseline. Defaults to True.
        **kwargs: Passed to mmdet's ``DetectionTransformer`` (backbone,
            neck, bbox_head, train_cfg, test_cfg, data_preprocessor,
            init_cfg).
    """

    def __init__(
        self,
        *args,
        decoder: OptConfigType = None,
        num_queries: int = 300,
        decoder_in_channels: Optional[Sequence[int]] = None,
        dn_cfg: OptConfigType = None,
        anchor_grid_size: float = 0.05,
        fdr: bool = True,
        **kwargs,
    ) -> None:
        name = type(self).__name__
        if 'channels_last' in kwargs:
            raise ValueError(
                'model.channels_last moved out of the model: for training '
                "add custom_hooks=[dict(type='DFineChannelsLastHook')]; "
                'switch_to_deploy() uses channels-last for inference'
            )
        decoder = inject_setting(decoder, 'fdr', fdr, name, 'decoder')
        head = head_settings(kwargs.get('bbox_head'), decoder, name)
        head = inject_setting(head, 'fdr', fdr, name, 'bbox_head')
        kwargs['bbox_head'] = head
        self.decoder_in_channels = (
            tuple(decoder_in_channels) if decoder_in_channels else None
        )
        self.dn_cfg = dict(dn_cfg) if dn_cfg is not None else None
        self.anchor_grid_size = anchor_grid_size
        self._anchor_cache: Dict[tuple, Tuple[Tensor, Tensor]] = {}
        super().__init__(
            *args, decoder=decoder, num_queries=num_queries, **kwargs
        )
        self._register_load_state_dict_pre_hook(check_checkpoint_shapes, True)

    def _init_layers(self) -> None:
        """Build the decoder, the input projections, the query-selection
        layers and the denoising generator."""
        self.decoder = DFineTransformerDecoder(**self.decoder)
        embed_dims = self.decoder.embed_dims
        self.embed_dims = embed_dims
        if self.bbox_head.embed_dims != embed_dims:
            raise ValueError(
                f'bbox_head.embed_dims ({self.bbox_head.embed_dims}) must '
                f'equal the decoder channels ({embed_dims})'
            )
        self.input_proj = nn.ModuleList()
        for channels in self.decoder_in_channels or ():
            if channels == embed_dims:
                self.input_proj.append(nn.Identity())
                continue
            conv = nn.Conv2d(channels, embed_dims, 1, bias=False)
            nn.init.xavier_uniform_(conv.weight)
            norm = build_norm_layer(dict(type='BN'), embed_dims)[1]
            self.input_proj.append(
                nn.Sequential(OrderedDict(conv=conv, norm=norm))
            )
        self.enc_output = nn.Sequential(
            OrderedDict(
                proj=nn.Linear(embed_dims, embed_dims),
                norm=nn.LayerNorm(embed_dims),
            )
        )
        nn.init.xavier_uniform_(self.enc_output.proj.weight)
        self.dn_query_generator = None
        if self.dn_cfg is not None:
            self.dn_query_generator = DFineCdnQueryGenerator(
                num_classes=self.bbox_head.num_classes,
                embed_dims=embed_dims,
                num_matching_queries=self.num_queries,
                **self.dn_cfg,
            )

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.xavier_uniform_(self.enc_output.proj.weight)
        for proj in self.input_proj:
            if isinstance(proj, nn.Sequential):
                nn.init.xavier_uniform_(proj.conv.weight)

    # ------------------------------------------------------------------
    # DetectionTransformer pipeline
    # ------------------------------------------------------------------
    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Backbone + hybrid encoder, after :func:`check_input_images`.

        Args:
            batch_inputs (Tensor): Images (B, 3, H, W), RGB in [0, 1], H and
                W divisible by 32.
        """
        check_input_images(batch_inputs)
        return super().extract_feat(batch_inputs)

    def forward_transformer(
        self, img_feats: Tuple[Tensor], batch_data_samples: OptSampleList
    ) -> Dict:
        """pre_transformer -> (encoder: identity) -> pre_decoder -> decoder.

        Args:
            img_feats (tuple[Tensor]): Neck outputs, each (B, C_l, H_l, W_l),
                finest first.
            batch_data_samples (list[:obj:`DetDataSample`], optional): Used
                for denoising in training.

        Returns:
            dict: Inputs of the head: ``hidden_states``, ``references``,
            ``corners``; in training also ``pre_references``, ``anchors``,
            ``fdr_params``, ``enc_outputs_class``, ``enc_outputs_coord``
            and ``dn_meta``.
        """
        encoder_inputs, decoder_inputs = self.pre_transformer(img_feats)
        memory = self.forward_encoder(**encoder_inputs)['memory']
        query_inputs, head_inputs = self.pre_decoder(
            memory, decoder_inputs['spatial_shapes'], batch_data_samples
        )
        decoder_inputs.update(query_inputs)
        head_inputs.update(self.forward_decoder(**decoder_inputs))
        return head_inputs

    def pre_transformer(
        self,
        img_feats: Tuple[Tensor],
        batch_data_samples: OptSampleList = None,
    ) -> Tuple[Dict, Dict]:
        """Project (if configured) and flatten the levels.

        Args:
            img_feats (tuple[Tensor]): The neck's maps, per level
                (B, C_l, H_l, W_l), finest first.
            batch_data_samples (list[DetDataSample], optional): Unused here
                (mmdet's interface).

        Returns:
            tuple[dict]: ``(dict(feat=memory), dict(spatial_shapes=...,
            value=...))`` with memory (B, S, C), S = sum(H_l * W_l), the
            (H_l, W_l) of each level and the decoder's value, the memory
            as per-level maps (B * M, C / M, H_l, W_l) reshaped straight
            from the features (no transpose back from the memory).
        """
        if len(self.input_proj):
            img_feats = [
                proj(f) for proj, f in zip(self.input_proj, img_feats)
            ]
        spatial_shapes = tuple((f.shape[2], f.shape[3]) for f in img_feats)
        memory = torch.cat(
            [f.flatten(2).transpose(1, 2) for f in img_feats], 1
        )
        value = self.decoder.value_maps(img_feats)
        return dict(feat=memory), dict(
            spatial_shapes=spatial_shapes, value=value
        )

    def forward_encoder(self, feat: Tensor) -> Dict:
        """The hybrid encoder already ran as the neck."""
        return dict(memory=feat)

    def pre_decoder(
        self,
        memory: Tensor,
        spatial_shapes: Shapes,
        batch_data_samples: OptSampleList = None,
    ) -> Tuple[Dict, Dict]:
        """Select the top-Q memory positions as queries (and add denoising).

        Args:
            memory (Tensor): (B, S, C) flattened features.
            spatial_shapes (tuple): (H_l, W_l) per level.
            batch_data_samples (list, optional): Ground truth for denoising.

        Returns:
            tuple[dict]: Decoder inputs (``query`` (B, D + Q, C),
            ``reference_points`` (B, D + Q, 4) cxcywh in [0, 1],
            ``attn_mask``) and head inputs (training: the selected encoder
            logits (B, Q, K) and boxes (B, Q, 4), ``dn_meta``).
        """
        head = self.bbox_head
        anchors, valid = self._anchors(spatial_shapes, memory)
        if memory.shape[1] < self.num_queries:
            raise ValueError(
                f'the input gives {memory.shape[1]} feature positions '
                f'{tuple(spatial_shapes)}, fewer than num_queries '
                f'({self.num_queries}); use larger images or fewer queries'
            )
        topk, topk_memory, topk_logits = select_queries(
            memory,
            self.enc_output,
            head.enc_cls_branch,
            self.num_queries,
            valid.to(memory.dtype),
            selected_rows_backward=self.training and torch.is_grad_enabled(),
        )
        topk_anchors = gather_rows(
            anchors.expand(memory.shape[0], -1, -1), topk
        )
        enc_boxes_unact = head.enc_reg_branch(topk_memory) + topk_anchors
        query = topk_memory.detach()
        reference_unact = enc_boxes_unact.detach()
        attn_mask, head_inputs = None, {}
        if self.training:
            head_inputs = dict(
                enc_outputs_class=topk_logits,
                enc_outputs_coord=enc_boxes_unact.sigmoid(),
                dn_meta=None,
            )
            dn = None
            if self.dn_query_generator is not None:
                dn = self.dn_query_generator(batch_data_samples)
            if dn is not None:
                dn_query, dn_boxes_unact, attn_mask, dn_meta = dn
                query = torch.cat([dn_query, query], 1)
                reference_unact = torch.cat(
                    [dn_boxes_unact, reference_unact], 1
                )
                head_inputs['dn_meta'] = dn_meta
        decoder_inputs = dict(
            query=query,
            reference_points=reference_unact.sigmoid(),
            attn_mask=attn_mask,
        )
        return decoder_inputs, head_inputs

    def forward_decoder(
        self,
        query: Tensor,
        reference_points: Tensor,
        value: List[Tensor],
        spatial_shapes: Shapes,
        attn_mask: Optional[Tensor] = None,
    ) -> Dict:
        """Run the decoder with the head's branches.

        Args:
            query (Tensor): Content queries (B, Q', C), denoising first.
            reference_points (Tensor): Initial boxes (B, Q', 4), cxcywh
                normalised to [0, 1].
            value (list[Tensor]): Per level the memory as maps
                (B * M, C / M, H_l, W_l) (:meth:`pre_transformer`).
            spatial_shapes (Shapes): (H_l, W_l) per level.
            attn_mask (Tensor, optional): Bool (Q', Q') self-attention
                mask, True where attention is blocked (denoising).

        Returns:
            dict: ``hidden_states`` (R, B, Q', C), ``references`` (R, B, Q',
            4), ``corners`` (R, B, Q', 4 * (N + 1)), ``fdr_params`` (the
            decoder's :class:`FDRParams`; None without FDR); in training
            also ``pre_references`` and ``anchors`` (B, Q', 4). Q' = D + Q.
        """
        out = self.decoder(
            query,
            reference_points,
            value,
            spatial_shapes,
            reg_branches=self.bbox_head.reg_branches,
            pre_reg_branch=self.bbox_head.pre_reg_branch,
            attn_mask=attn_mask,
        )
        if not self.training:
            out.pop('pre_references')
            out.pop('anchors')
        return out

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """Training losses (see ``DFineHead.loss``).

        A batch without any ground truth has no denoising queries; the
        denoising embedding then gets a zero loss so that every parameter
        still receives a gradient (distributed training needs this).

        Args:
            batch_inputs (Tensor): Images (B, 3, H, W), preprocessed.
            batch_data_samples (list[DetDataSample]): Per image
                ``gt_instances`` (``bboxes`` (N, 4) xyxy pixels, ``labels``
                (N,)) and the image meta.

        Returns:
            dict[str, Tensor]: Loss terms by name (scalars).
        """
        check_sample_labels(batch_data_samples, self.bbox_head.num_classes)
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        losses = self.bbox_head.loss(
            **head_inputs, batch_data_samples=batch_data_samples
        )
        losses.update(
            denoising_keepalive(
                self.dn_query_generator, head_inputs['dn_meta']
            )
        )
        return losses

    def _anchors(
        self, spatial_shapes: Shapes, like: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """:func:`grid_anchors` of the levels, cached per shape, device and
        dtype (not while tracing for export).

        Returns:
            tuple[Tensor]: anchors (1, S, 4) and valid mask (1, S, 1) bool.
        """
        key = (tuple(map(tuple, spatial_shapes)), like.device, like.dtype)
        if key in self._anchor_cache and not torch.jit.is_tracing():
            return self._anchor_cache[key]
        anchors = grid_anchors(spatial_shapes, self.anchor_grid_size, like)
        if not torch.jit.is_tracing():
            self._anchor_cache[key] = anchors
        return anchors

    def switch_to_deploy(self, fuse_backbone: bool = True) -> None:
        """Fuse, prune and use channels-last for inference (mmdeploy calls
        this; the outputs stay the same).

        The neck's conv-BN and RepVGG branches are fused and
        :func:`prune_for_inference` drops what inference never runs: the
        result has the key layout of the original's ``deploy()``. With
        ``fuse_backbone`` the backbone's norms are also folded into its
        convs (not done by the original) and backbone and neck run in
        channels-last memory format (:func:`to_channels_last`).

        Args:
            fuse_backbone (bool): Fold the backbone's norms too. Load an
                official deploy-mode checkpoint with False, then call
                ``model.backbone.switch_to_deploy()``. Defaults to True.
        """
        self.eval()
        for module in (self.neck, self.backbone)[: 1 + fuse_backbone]:
            if hasattr(module, 'switch_to_deploy'):
                module.switch_to_deploy()
        prune_for_inference(self)
        if fuse_backbone:
            to_channels_last(self)
