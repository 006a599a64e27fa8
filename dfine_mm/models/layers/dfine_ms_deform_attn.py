"""Multi-scale deformable attention as D-FINE uses it."""

import math
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.memory_format import capturing_graph, channels_first


class DFineMSDeformableAttention(BaseModule):
    """Multi-scale deformable attention with per-level point counts.

    Differs from mmcv's ``MultiScaleDeformableAttention``: no value and no
    output projection (the value is the raw encoder memory split into
    heads), a different number of sampling points on each level, offsets
    scaled by the reference box size, and one softmax over all points of all
    levels per head. Sampling is pure PyTorch ``grid_sample``.

    Code is written from the description of the official D-FINE repository
    (https://github.com/Peterande/D-FINE, Apache-2.0), D-FINE paper
    arXiv 2410.13842.

    Args:
        embed_dims (int): Query and value channels C. Defaults to 256.
        num_heads (int): Heads M; C must be divisible by M. Defaults to 8.
        num_points (Sequence[int]): Sampling points per level, e.g.
            (3, 6, 3). Defaults to (3, 6, 3).
        method (str): 'default' (bilinear sampling) or 'discrete'
            (nearest-pixel gather; the offsets are then frozen as in the
            original). Defaults to 'default'.
        offset_scale (float): Scale of the offsets relative to the reference
            box size. Defaults to 0.5.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_heads: int = 8,
        num_points: Sequence[int] = (3, 6, 3),
        method: str = 'default',
        offset_scale: float = 0.5,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(
                f'embed_dims ({embed_dims}) must be divisible by num_heads '
                f'({num_heads})'
            )
        if method not in ('default', 'discrete'):
            raise ValueError(
                f"method must be 'default' or 'discrete', got {method!r}"
            )
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_points = tuple(int(p) for p in num_points)
        self.num_levels = len(self.num_points)
        self.method = method
        self.offset_scale = offset_scale
        total = sum(self.num_points)
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * total * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * total)
        scale = [1.0 / n for n in self.num_points for _ in range(n)]
        self.register_buffer(
            'num_points_scale', torch.tensor(scale, dtype=torch.float32)
        )
        if method == 'discrete':
            self.sampling_offsets.requires_grad_(False)
        self._init_sampling()

    def _init_sampling(self) -> None:
        """Offsets start on rays around the reference (one per head), the
        k-th point of a level k steps out; attention starts uniform."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads) * (2 * math.pi / self.num_heads)
        rays = torch.stack([angles.cos(), angles.sin()], -1)
        rays = rays / rays.abs().max(-1, keepdim=True).values  # (M, 2)
        steps = torch.cat(
            [torch.arange(1, n + 1) for n in self.num_points]
        ).float()
        bias = rays[:, None, :] * steps[None, :, None]  # (M, P, 2)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)

    def init_weights(self) -> None:
        """Restore the sampling initialisation after mmengine's init."""
        super().init_weights()
        self._init_sampling()

    def split_value(
        self, value: Tensor, spatial_shapes: Sequence[Tuple[int, int]]
    ) -> List[Tensor]:
        """The value maps the sampling reads, one per level.

        Every layer of a decoder attends to the same memory: split it once
        and pass the maps to :meth:`forward` of each layer.

        Args:
            value (Tensor): Flattened multi-level features, shape (B, S, C)
                with S = sum(h * w) over the levels, finest level first.
            spatial_shapes (Sequence[tuple[int, int]]): (h, w) per level.

        Returns:
            list[Tensor]: Per level (B * M, C / M, h, w).
        """
        batch = value.shape[0]
        heads = self.num_heads
        head_dims = self.embed_dims // heads
        # (B, S, C) -> (B * M, C / M, S)
        value = value.view(batch, -1, heads, head_dims)
        value = value.permute(0, 2, 3, 1).flatten(0, 1)
        # h and w stay tensors while tracing (dynamic-shape ONNX export)
        sizes = [h * w for h, w in spatial_shapes]
        return [
            level.reshape(-1, head_dims, h, w)
            for level, (h, w) in zip(value.split(sizes, -1), spatial_shapes)
        ]

    def feature_value_maps(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """:meth:`split_value`'s maps from the level feature maps whose
        flattening is the value: a reshape each, no transpose (a
        channels-last map on the CPU is copied to channels-first first by
        :func:`~dfine_mm.models.utils.memory_format.channels_first`, which
        gives its gradient back in channels-last format).

        Args:
            feats (Sequence[Tensor]): Per level (B, C, h, w), finest first.

        Returns:
            list[Tensor]: Per level (B * M, C / M, h, w).
        """
        head_dims = self.embed_dims // self.num_heads
        return [
            channels_first(f).reshape(-1, head_dims, f.shape[2], f.shape[3])
            for f in feats
        ]

    def forward(
        self,
        query: Tensor,
        reference_points: Tensor,
        value: Union[Tensor, Sequence[Tensor]],
        spatial_shapes: Sequence[Tuple[int, int]],
    ) -> Tensor:
        """Attend from each query to points sampled around its reference box.

        Args:
            query (Tensor): Queries (with position embedding added), shape
                (B, Q, C).
            reference_points (Tensor): Reference boxes, shape (B, Q, 4),
                cxcywh normalised to [0, 1].
            value (Tensor | Sequence[Tensor]): Flattened multi-level
                features, shape (B, S, C) with S = sum(h * w) over the
                levels, finest level first; or :meth:`split_value`'s maps.
            spatial_shapes (Sequence[tuple[int, int]]): (h, w) per level.

        Returns:
            Tensor: Shape (B, Q, C).
        """
        if isinstance(value, Tensor):
            value = self.split_value(value, spatial_shapes)
        batch, num_queries, _ = query.shape
        heads, points = self.num_heads, sum(self.num_points)
        offsets = self.sampling_offsets(query).view(
            batch, num_queries, heads, points, 2
        )
        # (B, Q, M * P) -> (B * M, 1, P, Q), normalised over the points
        # (an outer dimension: the softmax runs along the queries)
        weights = (
            self.attention_weights(query)
            .view(batch, num_queries, heads, points)
            .permute(0, 2, 3, 1)
            .reshape(batch * heads, 1, points, num_queries)
            .softmax(2)
        )
        centre = reference_points[:, :, None, None, :2]
        size = reference_points[:, :, None, None, 2:]
        scale = self.num_points_scale.to(query.dtype)[:, None]  # (P, 1)
        locations = centre + offsets * scale * size * self.offset_scale
        # (B, Q, M, P, 2) -> (B * M, P, Q, 2): points before queries, so
        # that grid_sample's output rows run along the queries (its CPU
        # kernel vectorises along them; docs/benchmarks.md)
        locations = locations.permute(0, 2, 3, 1, 4).flatten(0, 1)
        samples: List[Tensor] = []
        for level_value, level_locations in zip(
            value, locations.split(self.num_points, 1)
        ):
            if self.method == 'default':
                samples.append(
                    self.bilinear_samples(level_value, 2 * level_locations - 1)
                )
            else:
                samples.append(
                    self._gather_nearest(level_value, level_locations)
                )
        return self.weighted_sum(samples, weights)

    @staticmethod
    def bilinear_samples(level_value: Tensor, grid: Tensor) -> Tensor:
        """Bilinear samples of one level, zero outside the map.

        Args:
            level_value (Tensor): Shape (B * M, C / M, h, w).
            grid (Tensor): Shape (B * M, H', W', 2), xy in [-1, 1] over the
                map (``grid_sample``'s convention, corners excluded):
                (P_l, Q) points by queries in :meth:`forward`.

        Returns:
            Tensor: Shape (B * M, C / M, H', W').
        """
        return F.grid_sample(
            level_value,
            grid,
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False,
        )

    def weighted_sum(
        self, samples: Sequence[Tensor], weights: Tensor
    ) -> Tensor:
        """The attention: every head's samples summed with its weights.

        Level by level, without concatenating the samples: the sum runs
        over the points, an outer dimension (vectorised along the queries).
        Outside traced graphs point by point into one (B * M, C / M, Q)
        map (:class:`_PointWeightedSum`: no product of the samples' size).

        Args:
            samples (Sequence[Tensor]): Per level (B * M, C / M, P_l, Q).
            weights (Tensor): Normalised over all points of a head, shape
                (B * M, 1, P, Q).

        Returns:
            Tensor: Shape (B, Q, C).
        """
        batch = weights.shape[0] // self.num_heads
        num_queries = weights.shape[-1]
        if capturing_graph():  # one product and sum per level
            out = None
            for level_samples, level_weights in zip(
                samples, weights.split(self.num_points, 2)
            ):
                level_out = (level_samples * level_weights).sum(2)
                out = level_out if out is None else out + level_out
        else:
            out = _PointWeightedSum.apply(weights, *samples)
        return out.view(batch, self.embed_dims, num_queries).transpose(1, 2)

    @staticmethod
    def _gather_nearest(level_value: Tensor, locations: Tensor) -> Tensor:
        """Nearest-pixel sampling ('discrete').

        NOTE: the original clamps both coordinates with the map height, which
        is wrong on non-square maps; here x is clamped to the width and y to
        the height (identical on square maps).

        Args:
            level_value (Tensor): Shape (B * M, C / M, h, w).
            locations (Tensor): Shape (B * M, P_l, Q, 2), xy in [0, 1].

        Returns:
            Tensor: Shape (B * M, C / M, P_l, Q).
        """
        n, channels, h, w = level_value.shape
        _, num_points, num_queries, _ = locations.shape
        size = torch.tensor([w, h], device=locations.device)
        coords = (locations * size + 0.5).to(torch.int64)
        x = coords[..., 0].clamp(0, w - 1)
        y = coords[..., 1].clamp(0, h - 1)
        index = (y * w + x).reshape(n, 1, -1).expand(-1, channels, -1)
        gathered = level_value.flatten(2).gather(2, index)
        return gathered.view(n, channels, num_points, num_queries)


class _PointWeightedSum(torch.autograd.Function):
    """``sum_p samples[..., p, :] * weights[..., p, :]`` over the points of
    all levels, accumulated point by point into the (B * M, C / M, Q)
    output (one multiply-add each) instead of through a product map of
    the samples' size and a sum; the backward is the one autograd derives
    for the product and sum. The same values up to the order of the sum.

    Inputs: ``weights`` of shape (B * M, 1, P, Q), then the levels'
    samples, each (B * M, C / M, P_l, Q) with ``sum(P_l) == P``.
    """

    @staticmethod
    def forward(ctx, weights: Tensor, *samples: Tensor) -> Tensor:
        ctx.save_for_backward(weights, *samples)
        out, point = None, 0
        for level_samples in samples:
            for index in range(level_samples.shape[2]):
                sample = level_samples[:, :, index]
                weight = weights[:, :, point]
                point += 1
                if out is None:
                    out = sample * weight
                else:
                    out.addcmul_(sample, weight)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        weights, *samples = ctx.saved_tensors
        grad = grad[:, :, None]  # (B * M, C / M, 1, Q)
        sizes = [level_samples.shape[2] for level_samples in samples]
        grad_samples, grad_weights = [], []
        for index, (level_samples, level_weights) in enumerate(
            zip(samples, weights.split(sizes, 2))
        ):
            grad_samples.append(
                grad * level_weights
                if ctx.needs_input_grad[index + 1]
                else None
            )
            if ctx.needs_input_grad[0]:
                grad_weights.append(
                    (grad * level_samples).sum(1, keepdim=True)
                )
        grad_weight = (
            torch.cat(grad_weights, 2) if ctx.needs_input_grad[0] else None
        )
        return (grad_weight, *grad_samples)
