"""Compare a deployed model's detections with PyTorch's (parity checks of
the tests and of ``benchmark_deploy.py``)."""

from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmdet.structures import DetDataSample
from torch import Tensor


def pytorch_detections(
    model: torch.nn.Module, inputs: Tensor
) -> Tuple[np.ndarray, np.ndarray]:
    """Detections of an mmdet model in mmdeploy's output layout.

    Args:
        model (nn.Module): The detector (eval mode).
        inputs (Tensor): Preprocessed images (B, 3, H, W).

    Returns:
        tuple[np.ndarray]: ``dets`` (B, K, 5), xyxy in input pixels and
        score, sorted by score; ``labels`` (B, K).
    """
    height, width = inputs.shape[-2:]
    samples = [
        DetDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(height, width),
                batch_input_shape=(height, width),
                scale_factor=(1.0, 1.0),
            )
        )
        for _ in range(len(inputs))
    ]
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
    dets, labels = [], []
    for result in results:
        pred = result.pred_instances
        order = pred.scores.argsort(descending=True)
        dets.append(
            torch.cat([pred.bboxes[order], pred.scores[order, None]], 1)
        )
        labels.append(pred.labels[order])
    return torch.stack(dets).numpy(), torch.stack(labels).numpy()


def onnxruntime_session(
    path: str, num_threads: Optional[int] = None, spinning: bool = False
):
    """An ONNX Runtime CPU session (``num_threads`` intra-op threads).

    Without ``spinning`` its threads do not spin-wait between runs (ONNX
    Runtime's default is to spin), so that PyTorch run right after it gets
    the cores.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not spinning:
        options.add_session_config_entry(
            'session.intra_op.allow_spinning', '0'
        )
    if num_threads:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider']
    )


def onnxruntime_detections(
    session, inputs: Tensor
) -> Tuple[np.ndarray, np.ndarray]:
    """``dets`` (B, K, 5) and ``labels`` (B, K) of an exported model."""
    name = session.get_inputs()[0].name
    dets, labels = session.run(['dets', 'labels'], {name: inputs.numpy()})
    return dets, labels


def detection_differences(
    reference: Tuple[np.ndarray, np.ndarray],
    other: Tuple[np.ndarray, np.ndarray],
    top_k: int = 100,
    margin: int = 20,
) -> Dict[str, float]:
    """Max abs differences between the ``top_k`` best detections of
    ``reference`` and their partners in ``other``.

    Scores that are nearly tied may come out in another order, so each of
    the reference's ``top_k`` detections (per image) is paired with one of
    the ``top_k + margin`` best of ``other`` by a minimum-cost assignment
    (box L1 distance; different labels cost extra).

    Returns:
        dict: ``score`` and ``box`` (pixels) max abs differences over the
        pairs, and ``label_mismatches`` (pairs with different labels).
    """
    from scipy.optimize import linear_sum_assignment

    (ref_dets, ref_labels), (dets, labels) = reference, other
    if ref_dets.shape[0] != dets.shape[0]:
        raise ValueError(
            f'batch sizes differ: {ref_dets.shape} vs {dets.shape}'
        )
    score = box = 0.0
    mismatches = 0
    for image in range(len(ref_dets)):
        k = min(top_k, ref_dets.shape[1])
        m = min(k + margin, dets.shape[1])
        a, b = ref_dets[image, :k], dets[image, :m]
        cost = np.abs(a[:, None, :4] - b[None, :, :4]).sum(-1)
        same = ref_labels[image, :k, None] == labels[image, None, :m]
        cost = cost + np.where(same, 0.0, 1e6)
        rows, cols = linear_sum_assignment(cost)
        score = max(score, float(np.abs(a[rows, 4] - b[cols, 4]).max()))
        box = max(box, float(np.abs(a[rows, :4] - b[cols, :4]).max()))
        mismatches += int((~same[rows, cols]).sum())
    return dict(score=score, box=box, label_mismatches=mismatches)


def confident_differences(
    reference: Tuple[np.ndarray, np.ndarray],
    other: Tuple[np.ndarray, np.ndarray],
    score_thr: float = 0.3,
) -> Dict[str, float]:
    """Score and box differences of the reference's confident detections.

    Low-score detections trade places under the smallest perturbation
    (D-FINE's query selection is a top-K), so precision comparisons look at
    the detections that count: each reference detection scoring at least
    ``score_thr`` is paired with the nearest (box L1) detection of the same
    label in ``other``; one without any such partner counts its whole
    score.

    Args:
        reference, other (tuple[np.ndarray]): ``dets`` (B, K, 5), xyxy in
            input pixels and score, and ``labels`` (B, K).
        score_thr (float): The reference's confidence threshold.

    Returns:
        dict: ``max_score`` and ``mean_score`` (abs differences), ``max_box``
        (pixels, over the paired ones) and ``count`` (detections compared).
    """
    (ref_dets, ref_labels), (dets, labels) = reference, other
    if ref_dets.shape[0] != dets.shape[0]:
        raise ValueError(
            f'batch sizes differ: {ref_dets.shape} vs {dets.shape}'
        )
    scores, boxes = [], [0.0]
    for image in range(len(ref_dets)):
        keep = ref_dets[image, :, 4] >= score_thr
        for det, label in zip(ref_dets[image][keep], ref_labels[image][keep]):
            partners = dets[image][labels[image] == label]
            if not len(partners):
                scores.append(float(det[4]))
                continue
            l1 = np.abs(partners[:, :4] - det[:4]).sum(1)
            best = partners[l1.argmin()]
            scores.append(float(abs(best[4] - det[4])))
            boxes.append(float(np.abs(best[:4] - det[:4]).max()))
    return dict(
        max_score=max(scores, default=0.0),
        mean_score=float(np.mean(scores)) if scores else 0.0,
        max_box=max(boxes),
        count=len(scores),
    )
