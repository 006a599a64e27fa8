"""Inference-only changes to a trained FDR detector: pruning and memory
format (the model classes hold neither)."""

from typing import Sequence

import torch
from torch import nn


def to_channels_last(
    model: nn.Module, parts: Sequence[str] = ('backbone', 'neck')
) -> nn.Module:
    """Put ``parts`` of ``model`` in channels-last memory format (faster
    CPU convolutions, docs/benchmarks.md); values do not change, and the
    convolutions follow their weights' format, so inputs need no
    conversion.

    Args:
        model (nn.Module): The detector (changed in place).
        parts (Sequence[str]): Its convolutional parts.

    Returns:
        nn.Module: ``model``.
    """
    for part in parts:
        getattr(model, part).to(memory_format=torch.channels_last)
    return model


def prune_for_inference(model: nn.Module) -> nn.Module:
    """Drop what inference never runs from an FDR detector (D-FINE, DINO +
    FDR, Deformable-DETR + FDR), in eval mode.

    With e = ``eval_idx``: the decoder keeps layers 0..e; the head keeps
    the distribution branches 0..e and the score branch and LQE of layer e
    (``nn.Identity`` before it, so that indices stay), and a two-stage
    head's query-selection branches move to index e + 1. ``num_layers`` of
    the decoder and the head become e + 1, so the model stays consistent
    (mmdet's two-stage DETRs find the query-selection branches at
    ``decoder.num_layers``). The state dict then has the layout of the
    original D-FINE's ``deploy()``.

    Args:
        model (nn.Module): A detector with an FDR ``decoder`` and
            ``bbox_head`` (changed in place).

    Returns:
        nn.Module: ``model``.
    """
    model.eval()
    decoder, head = model.decoder, model.bbox_head
    keep = decoder.eval_idx  # (pruning twice changes nothing)
    selection = []
    if getattr(head, 'as_two_stage', False):
        selection = [(head.cls_branches[-1], head.reg_branches[-1])]
    decoder.layers = decoder.layers[: keep + 1]
    decoder.num_layers = keep + 1
    cls = [nn.Identity()] * keep + [head.cls_branches[keep]]
    reg = list(head.reg_branches[: keep + 1])
    for enc_cls, enc_reg in selection:
        cls.append(enc_cls)
        reg.append(enc_reg)
    head.cls_branches = nn.ModuleList(cls)
    head.reg_branches = nn.ModuleList(reg)
    if len(head.lqe_layers):
        head.lqe_layers = nn.ModuleList(
            [nn.Identity()] * keep + [head.lqe_layers[keep]]
        )
    head.num_pred_layer = len(cls)
    head.num_layers = keep + 1
    return model
