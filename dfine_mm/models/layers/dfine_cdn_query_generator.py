"""Contrastive denoising (CDN) queries as D-FINE builds them."""

from typing import Dict, Optional, Tuple

import torch
from mmdet.models.layers.transformer.utils import inverse_sigmoid
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn


class DFineCdnQueryGenerator(BaseModule):
    """Noised ground truths that the decoder learns to denoise.

    With g the largest number of ground truths of an image in the batch,
    there are G = max(1, num_denoising // g) groups of 2g queries: g
    positives (boxes jittered by less than half their size) then g negatives
    (jittered by one to two half-sizes); images with fewer boxes are padded
    with the pad label K (a zero embedding) and empty boxes. Labels are
    replaced by a random class with probability ``label_noise_ratio / 2``.

    The jitter moves the xyxy edges, clips them to [0, 1] and takes the
    absolute value of the cxcywh result (a negative whose edges cross keeps
    a positive size); clipping can leave a degenerate box (e.g. h = 1 when
    both y edges clip), as in the original.

    Differs from mmdet's ``CdnQueryGenerator`` in the details D-FINE needs:
    an embedding of K + 1 rows with the pad row at index K, the label-noise
    probability, and the noise applied in xyxy then clipped to [0, 1].

    Args:
        num_classes (int): Classes K.
        embed_dims (int): Channels C.
        num_matching_queries (int): Queries Q after the denoising part.
        num_denoising (int): Bound on the positive queries g * G (the
            denoising queries are 2 * g * G, up to twice this, and more when
            g > num_denoising, where G = 1). Defaults to 100.
        label_noise_ratio (float): Twice the label flip probability.
            Defaults to 0.5.
        box_noise_scale (float): Scale of the box jitter. Defaults to 1.0.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        num_classes: int,
        embed_dims: int,
        num_matching_queries: int,
        num_denoising: int = 100,
        label_noise_ratio: float = 0.5,
        box_noise_scale: float = 1.0,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.num_matching_queries = num_matching_queries
        self.num_denoising = num_denoising
        self.label_noise_ratio = label_noise_ratio
        self.box_noise_scale = box_noise_scale
        self.label_embedding = nn.Embedding(
            num_classes + 1, embed_dims, padding_idx=num_classes
        )

    def __call__(
        self, batch_data_samples: SampleList
    ) -> Optional[Tuple[Tensor, Tensor, Tensor, Dict]]:
        """Build the denoising queries of a batch.

        Args:
            batch_data_samples (list[:obj:`DetDataSample`]): With
                ``gt_instances.bboxes`` (xyxy pixels) and ``labels``.

        Returns:
            tuple | None: None when denoising is off or the batch has no
            ground truth; otherwise ``(label_query, bbox_query, attn_mask,
            dn_meta)``:

            - label_query (Tensor): (B, D, C) content queries.
            - bbox_query (Tensor): (B, D, 4) boxes in inverse-sigmoid space
              (cxcywh).
            - attn_mask (Tensor): Bool (D + Q, D + Q), True where attention
              is not allowed.
            - dn_meta (dict): ``num_denoising_queries`` (D),
              ``num_denoising_groups`` (G) and ``max_num_target`` (g);
              :func:`dn_positive_pairs` gives the positive queries.
        """
        if self.num_denoising <= 0:
            return None
        labels, boxes = [], []
        for sample in batch_data_samples:
            h, w = sample.metainfo['img_shape']
            bboxes = sample.gt_instances.bboxes
            factor = bboxes.new_tensor([w, h, w, h])
            boxes.append(bbox_xyxy_to_cxcywh(bboxes / factor))
            labels.append(sample.gt_instances.labels)
        counts = [len(b) for b in boxes]
        max_gt = max(counts)
        if max_gt == 0:
            return None
        groups = max(1, self.num_denoising // max_gt)
        device = boxes[0].device
        batch = len(boxes)
        pad_labels = torch.full(
            (batch, max_gt), self.num_classes, dtype=torch.long, device=device
        )
        pad_boxes = torch.zeros(batch, max_gt, 4, device=device)
        real = torch.zeros(batch, max_gt, dtype=torch.bool, device=device)
        for i, (label, box) in enumerate(zip(labels, boxes)):
            pad_labels[i, : len(label)] = label
            pad_boxes[i, : len(box)] = box
            real[i, : len(label)] = True
        # (B, G * 2g): each group holds g positives then g negatives
        label_q = pad_labels.repeat(1, 2 * groups)
        box_q = pad_boxes.repeat(1, 2 * groups, 1)
        real_q = real.repeat(1, 2 * groups)
        negative = torch.zeros(batch, 2 * max_gt, 1, device=device)
        negative[:, max_gt:] = 1
        negative = negative.repeat(1, groups, 1)
        if self.label_noise_ratio > 0:
            flip = torch.rand(label_q.shape, device=device) < (
                self.label_noise_ratio * 0.5
            )
            random_labels = torch.randint_like(label_q, 0, self.num_classes)
            label_q = torch.where(flip & real_q, random_labels, label_q)
        if self.box_noise_scale > 0:
            xyxy = bbox_cxcywh_to_xyxy(box_q)
            half = box_q[..., 2:].repeat(1, 1, 2) * 0.5 * self.box_noise_scale
            sign = torch.randint_like(box_q, 0, 2) * 2.0 - 1.0
            magnitude = torch.rand_like(box_q) + negative
            xyxy = (xyxy + sign * magnitude * half).clamp(0, 1)
            box_q = bbox_xyxy_to_cxcywh(xyxy).abs()
        label_query = self.label_embedding(label_q)
        bbox_query = inverse_sigmoid(box_q)
        num_dn = 2 * max_gt * groups
        attn_mask = self._attention_mask(num_dn, 2 * max_gt, device)
        dn_meta = dict(
            num_denoising_queries=num_dn,
            num_denoising_groups=groups,
            max_num_target=max_gt,
        )
        return label_query, bbox_query, attn_mask, dn_meta

    def _attention_mask(
        self, num_dn: int, group_size: int, device: torch.device
    ) -> Tensor:
        """Matching queries do not see denoising ones; each denoising group
        sees only itself and the matching queries."""
        total = num_dn + self.num_matching_queries
        mask = torch.zeros(total, total, dtype=torch.bool, device=device)
        mask[num_dn:, :num_dn] = True
        for start in range(0, num_dn, group_size):
            end = start + group_size
            mask[start:end, :start] = True
            mask[start:end, end:num_dn] = True
        return mask
