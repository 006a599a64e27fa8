"""Which modules of a deploy model an fp16 engine hurts, and how much the
detections move (``tools/analysis_tools/check_fp16.py``).

A fp32 run records per module the largest |activation| of its outputs
(beyond 65504 they overflow fp16); runs under :class:`Fp16Emulation` (see
:mod:`dfine_mm.deploy.fp16_emulation`), with the TensorRT fp16 configs'
fp32 modules and with everything in fp16, record per module the inf/NaN
count of the outputs and their relative error against the fp32 run, and
the detection differences.
"""

import os.path as osp
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from .fp16_emulation import (
    DEFAULT_FP32_TYPES,
    FP16_MAX,
    Fp16Emulation,
    prepare_fp16_model,
    round_fp16,
)
from .selection_recorder import SelectionRecorder
from .verify import detection_differences, pytorch_detections

SCORE_TOL = 1e-2
Detections = Tuple[np.ndarray, np.ndarray]


def load_images(paths: Sequence[str], height: int, width: int) -> Tensor:
    """Image files as the model's input: RGB in [0, 1], resized with cv2
    (bilinear) to (height, width); shape (N, 3, H, W).

    Raises:
        FileNotFoundError: A missing or unreadable file (named).
    """
    images = []
    for path in paths:
        bgr = cv2.imread(path) if osp.isfile(path) else None
        if bgr is None:
            raise FileNotFoundError(f'image not found or unreadable: {path}')
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        images.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    return torch.stack(images)


def report_module_names(
    model: nn.Module, depth: int, extra: Sequence[str] = ()
) -> List[str]:
    """Modules reported on: those at most ``depth`` levels deep (dotted
    names of up to ``depth`` parts, containers left out) and ``extra``."""
    names = []
    for name, module in model.named_modules():
        if not name or isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            continue
        if name.count('.') < depth or name in extra:
            names.append(name)
    return names


def _float_leaves(output: Any) -> List[Tensor]:
    return [
        t.detach()
        for t in tree_leaves(output)
        if isinstance(t, Tensor) and t.is_floating_point()
    ]


class _Recorder:
    """Forward hooks on ``names``: in the reference run they keep each
    call's float outputs; in a compared run they accumulate, per module,
    the differences to the reference's call of the same index."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        self.handles = [
            modules[name].register_forward_hook(self._hook(name))
            for name in names
        ]
        self.reference: Optional[Dict[str, List[List[Tensor]]]] = None
        self.outputs: Dict[str, List[List[Tensor]]] = defaultdict(list)
        self.image_calls: Dict[str, int] = defaultdict(int)
        self.stats: Dict[str, Dict[str, float]] = defaultdict(_new_stats)
        self.mode: Optional[Fp16Emulation] = None

    def new_image(self, reference: Optional[Dict] = None) -> None:
        """Start pairing calls anew (against ``reference``'s outputs)."""
        self.outputs.clear()
        self.image_calls.clear()
        self.reference = reference

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.reference is not None and self.mode is None:
                return  # a compared model running outside the comparison
            if self.mode is not None:
                self.mode.paused = True
            try:
                self._record(name, _float_leaves(output))
            finally:
                if self.mode is not None:
                    self.mode.paused = False

        return hook

    def _record(self, name: str, leaves: List[Tensor]) -> None:
        stats = self.stats[name]
        stats['calls'] += 1
        call = self.image_calls[name]
        self.image_calls[name] += 1
        for leaf in leaves:
            finite = leaf[torch.isfinite(leaf)]
            if finite.numel():
                peak = float(finite.abs().max())
                stats['max_abs'] = max(stats['max_abs'], peak)
        if self.reference is None:
            for leaf in leaves:
                stats['nonfinite'] += int((~torch.isfinite(leaf)).sum())
            self.outputs[name].append([leaf.clone() for leaf in leaves])
            return
        calls = self.reference.get(name, [])
        ref = calls[call] if call < len(calls) else []
        if len(ref) != len(leaves) or any(
            a.shape != b.shape for a, b in zip(leaves, ref)
        ):
            stats['mismatches'] += 1
            return
        for leaf, expected in zip(leaves, ref):
            # inf/NaN where the reference has finite values only: masks
            # that are -inf in fp32 too are no fp16 problem
            valid = torch.isfinite(expected)
            both = valid & torch.isfinite(leaf)
            stats['nonfinite'] += int((valid & ~both).sum())
            diff = leaf[both].double() - expected[both].double()
            stats['sq_diff'] += float(diff.square().sum())
            stats['sq_ref'] += float(expected[valid].double().square().sum())


def _new_stats() -> Dict[str, float]:
    return dict(
        calls=0, sq_diff=0.0, sq_ref=0.0, nonfinite=0, max_abs=0.0,
        mismatches=0,
    )  # fmt: skip


def relative_error(stats: Dict[str, float]) -> float:
    """sqrt(sum ||a - b||^2 / sum ||b||^2) over the calls and the elements
    finite in the reference (inf when a compared output had inf/NaN where
    the reference is finite, or the reference is all zeros)."""
    if stats['nonfinite'] or not np.isfinite(stats['sq_diff']):
        return float('inf')
    if stats['sq_ref'] == 0:
        return 0.0 if stats['sq_diff'] == 0 else float('inf')
    return float(np.sqrt(stats['sq_diff'] / stats['sq_ref']))


def confident_differences(
    reference: Detections, other: Detections, score_thr: float
) -> Dict[str, Any]:
    """:func:`detection_differences` over, per image, the reference's
    detections with score >= ``score_thr`` (low-score detections swap
    places under tiny noise; these are the stable ones).

    Args:
        reference (tuple): ``dets`` (B, K, 5) sorted by score, ``labels``
            (B, K).
        other (tuple): The same layout.
        score_thr (float): Reference score threshold.

    Returns:
        dict: ``count`` (confident detections), max abs ``score`` and
        ``box`` differences and ``label_mismatches`` (None without any
        confident detection).
    """
    (ref_dets, ref_labels), (dets, labels) = reference, other
    out: Dict[str, Any] = dict(score_thr=score_thr, count=0)
    out.update(score=None, box=None, label_mismatches=None)
    for image in range(len(ref_dets)):
        k = int((ref_dets[image, :, 4] >= score_thr).sum())
        if not k:
            continue
        diff = detection_differences(
            (ref_dets[image : image + 1], ref_labels[image : image + 1]),
            (dets[image : image + 1], labels[image : image + 1]),
            top_k=k,
        )
        out['count'] += k
        out['score'] = max(out['score'] or 0.0, diff['score'])
        out['box'] = max(out['box'] or 0.0, diff['box'])
        mismatches = out['label_mismatches'] or 0
        out['label_mismatches'] = mismatches + diff['label_mismatches']
    return out


class Fp16Check:
    """Run a deploy model in fp32 and in emulated fp16 and compare.

    Args:
        model (nn.Module): The deploy-mode detector (eval).
        fp32_types (Sequence[str]): Module class names kept in fp32, as the
            TensorRT fp16 configs keep them (default: ``LayerNorm``); empty
            keeps nothing.
        depth (int): Report modules with dotted names of up to this many
            parts (the kept modules too).
        score_thr (float): fp32 score threshold of the confident
            detections.
        top_k (int): Detections per image of :func:`detection_differences`.
        detect (callable): ``detect(model, images) -> (dets, labels)``,
            ``images`` (B, 3, H, W) and ``dets`` (B, K, 5) sorted by score,
            ``labels`` (B, K); default :func:`pytorch_detections`.

    Raises:
        ValueError: A type of ``fp32_types`` with no module in the model.
    """

    def __init__(
        self,
        model: nn.Module,
        fp32_types: Sequence[str] = DEFAULT_FP32_TYPES,
        depth: int = 3,
        score_thr: float = 0.3,
        top_k: int = 100,
        detect: Callable[[nn.Module, Tensor], Detections] = (
            pytorch_detections
        ),
    ) -> None:
        self.model = model.eval()
        self.fp32_types = list(fp32_types)
        self.score_thr = score_thr
        self.top_k = top_k
        self.detect = detect
        self.variants = [('everything fp16', ())]
        if self.fp32_types:
            label = 'fp32: ' + ', '.join(self.fp32_types)
            self.variants.insert(0, (label, self.fp32_types))
        self.fp16_models = [
            prepare_fp16_model(model, types) for _, types in self.variants
        ]
        kept = self.fp16_models[0][1]
        self.names = report_module_names(model, depth, kept)

    @torch.no_grad()
    def run(self, images: Tensor) -> Dict[str, Any]:
        """Compare on ``images`` (N, 3, H, W), RGB in [0, 1], one at a time.

        Returns:
            dict: ``modules``: per reported module (in the order of their
            first call) ``name``, ``type``, ``calls`` and fp32 ``max_abs``,
            ``beyond_fp16``, ``nonfinite``, and per variant label
            ``nonfinite``, ``rel_error``, ``max_abs``; ``variants``: per
            variant ``label``, ``fp32_types``, ``kept_modules``,
            ``detections`` (top-``top_k`` paired differences) and
            ``confident`` (see :func:`confident_differences`); and the
            settings.
        """
        reference = _Recorder(self.model, self.names)
        recorders = [_Recorder(m, self.names) for m, _, _ in self.fp16_models]
        order: Dict[str, None] = {}
        ref_dets: List[Detections] = []
        dets: List[List[Detections]] = [[] for _ in recorders]
        try:
            for image in images:
                batch = image[None].float()
                reference.new_image()
                with SelectionRecorder() as selected:
                    ref_dets.append(self.detect(self.model, batch))
                order.update(dict.fromkeys(reference.outputs))
                for index, (model, kept, _) in enumerate(self.fp16_models):
                    recorder = recorders[index]
                    recorder.new_image(reference.outputs)
                    # module outputs: with fp32's top-k / sort indices
                    pinned = Fp16Emulation(model, kept, selected.selections)
                    with pinned:
                        recorder.mode = pinned
                        self.detect(model, round_fp16(batch))
                    recorder.mode = None
                    # detections: free to pick other queries / boxes
                    with Fp16Emulation(model, kept):
                        dets[index].append(
                            self.detect(model, round_fp16(batch))
                        )
        finally:
            for recorder in [reference, *recorders]:
                recorder.remove()
        return self._result(order, reference, recorders, ref_dets, dets)

    def _result(self, order, reference, recorders, ref_dets, dets):
        ref = _concat(ref_dets)
        modules = []
        for name in order:
            stats = reference.stats[name]
            row = dict(
                name=name,
                type=type(self.model.get_submodule(name)).__name__,
                calls=stats['calls'],
                max_abs=stats['max_abs'],
                beyond_fp16=stats['max_abs'] > FP16_MAX,
                nonfinite=stats['nonfinite'],
                variants={},
            )
            for (label, _), recorder in zip(self.variants, recorders):
                other = recorder.stats[name]
                row['variants'][label] = dict(
                    nonfinite=other['nonfinite'],
                    rel_error=relative_error(other),
                    max_abs=other['max_abs'],
                    unpaired_calls=other['mismatches'],
                )
            modules.append(row)
        variants = []
        for index, (label, types) in enumerate(self.variants):
            other = _concat(dets[index])
            _, kept, (folded, left) = self.fp16_models[index]
            variants.append(
                dict(
                    label=label,
                    fp32_types=list(types),
                    kept_modules=len(kept),
                    detections=detection_differences(ref, other, self.top_k),
                    confident=confident_differences(
                        ref, other, self.score_thr
                    ),
                )
            )
        return dict(
            num_images=len(ref[0]),
            batch_norms=dict(folded=folded, left=left),
            score_tol=SCORE_TOL,
            top_k=self.top_k,
            modules=modules,
            variants=variants,
        )


def _concat(parts: List[Detections]) -> Detections:
    return (
        np.concatenate([d for d, _ in parts]),
        np.concatenate([labels for _, labels in parts]),
    )
