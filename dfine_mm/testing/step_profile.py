"""dfine_mm's training step with its sections timed
(``tools/analysis_tools/benchmark_train.py --profile``)."""

import contextlib
from typing import Callable, ContextManager, Dict, List

import torch
from torch import Tensor

from .section_timer import SectionTimer

#: the timed sections of one training step, in report order
STEP_SECTIONS = ('data', 'backbone', 'neck', 'decoder', 'matching',
                 'losses', 'backward', 'optimizer')  # fmt: skip


def profiled_training_step(
    model: torch.nn.Module,
    images: Tensor,
    samples: List,
    timer: SectionTimer,
    autocast: Callable[[], ContextManager] = contextlib.nullcontext,
) -> Callable[[], None]:
    """A closure running one training step of a dfine_mm detector with
    every section of :data:`STEP_SECTIONS` timed by ``timer``.

    The step is the data preprocessor (without batch augments: a fixed
    input size), the loss (backbone, neck, decoder, the GO-LSD loss's
    Hungarian matchings and the other losses timed apart), backward and an
    AdamW step. The whole step is section ``'step'``. Patches the model's
    methods and :func:`~dfine_mm.models.losses.go_lsd_loss.hungarian_match`
    for good: use a model and process made for profiling.

    Args:
        model (nn.Module): A D-FINE detector in train mode.
        images (Tensor): Images in [0, 1], shape (B, 3, H, W).
        samples (list[DetDataSample]): Their ground truth (xyxy boxes in
            pixels).
        timer (SectionTimer): Collects the sections' times.
        autocast (callable): Returns the context the forward and losses
            run in (e.g. fp16 autocast). Defaults to none.

    Returns:
        callable: Runs one step.
    """
    from dfine_mm.models.losses import go_lsd_loss

    timer.wrap(model.backbone, 'forward', 'backbone')
    timer.wrap(model.neck, 'forward', 'neck')
    timer.wrap(model, 'forward_transformer', 'decoder')
    timer.wrap(model.bbox_head, 'loss', 'losses')
    # every Hungarian matching of the GO-LSD loss (all outputs at once;
    # hungarian_match: one output, e.g. the class-agnostic proposals)
    timer.wrap(go_lsd_loss, 'hungarian_match', 'matching')
    timer.wrap(go_lsd_loss, 'hungarian_matches', 'matching')
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    raw = (images * 255).round()
    model.data_preprocessor.batch_augments = None

    def step() -> None:
        with timer.section('step'):
            optimizer.zero_grad(set_to_none=True)
            with timer.section('data'):
                batch = model.data_preprocessor(
                    dict(inputs=list(raw), data_samples=samples), True
                )
            with autocast():
                losses = model.loss(batch['inputs'], batch['data_samples'])
            with timer.section('backward'):
                sum(losses.values()).backward()
            with timer.section('optimizer'):
                optimizer.step()

    return step


def step_shares(timer: SectionTimer) -> Dict[str, float]:
    """Each section's exclusive time as a share of the ``'step'``
    sections' time, and ``'other'``: the rest of the step.

    Args:
        timer (SectionTimer): Times of steps of
            :func:`profiled_training_step`.

    Returns:
        dict[str, float]: :data:`STEP_SECTIONS` then ``'other'`` to shares
        that sum to 1.
    """
    total = timer.inclusive['step']
    shares = {name: timer.totals.get(name, 0.0) / total
              for name in STEP_SECTIONS}  # fmt: skip
    shares['other'] = 1.0 - sum(shares.values())
    return shares
