"""DFineCdnQueryGenerator noise, labels, mask and layout, value by value.

The case: 2 images of 200x100 px with 2 and 1 ground truths, so g = 2;
``num_denoising=4`` gives G = 4 // 2 = 2 groups of 2g = 4 queries, D = 8,
and 3 matching queries. The generator draws, in this order:

1. ``torch.rand`` (B, D): a label flips where it is below
   ``label_noise_ratio / 2``, on real (not padded) slots only;
2. ``torch.randint_like`` (B, D) in [0, K): the new labels;
3. ``torch.randint_like`` (B, D, 4) in {0, 1}: the jitter sign, 2b - 1;
4. ``torch.rand_like`` (B, D, 4): the jitter magnitude, plus 1 on
   negatives (so [0, 1) for positives, [1, 2) for negatives).

Each xyxy edge (normalised) moves by sign * magnitude * half-size *
``box_noise_scale`` (half-size: w / 2 for x, h / 2 for y), is clamped to
[0, 1] and the box is turned back into cxcywh, sizes taken as absolute
values (edges may cross on negatives), then into inverse-sigmoid space.

The tests seed torch, draw the same four tensors in the same order, and
rebuild every query from these formulas in float64.
"""

import math

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from dfine_mm.models.layers import DFineCdnQueryGenerator

NUM_CLASSES = 5  # K; the pad label is K
NUM_MATCHING = 3
IMG_H, IMG_W = 100, 200
# per image, (xyxy in pixels, label): box 0 of image 0 touches the left
# edge and the box of image 1 the bottom edge, so the clamp is exercised
GT = [
    [([0.0, 10.0, 60.0, 50.0], 1), ([120.0, 40.0, 180.0, 90.0], 3)],
    [([50.0, 20.0, 150.0, 100.0], 4)],
]
# the same shape of batch with every box away from the image border
GT_INTERIOR = [
    [([20.0, 10.0, 60.0, 50.0], 1), ([120.0, 40.0, 180.0, 80.0], 3)],
    [([50.0, 20.0, 150.0, 70.0], 4)],
]
MAX_GT = 2  # g
GROUPS = 2  # G = num_denoising // g
NUM_DN = 2 * MAX_GT * GROUPS  # D = 8
SEED = 0
LOGIT_EPS = 1e-5  # the clamp of mmdet's inverse_sigmoid


def _samples(gt):
    samples = []
    for boxes in gt:
        sample = DetDataSample(metainfo=dict(img_shape=(IMG_H, IMG_W)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([box for box, _ in boxes]),
            labels=torch.tensor([label for _, label in boxes]),
        )
        samples.append(sample)
    return samples


def _generator(label_noise_ratio=0.5, box_noise_scale=1.0):
    """A generator whose label embedding is the identity, so that a
    content query is the one-hot vector of its label (pad row included).
    """
    gen = DFineCdnQueryGenerator(
        num_classes=NUM_CLASSES,
        embed_dims=NUM_CLASSES + 1,
        num_matching_queries=NUM_MATCHING,
        num_denoising=4,
        label_noise_ratio=label_noise_ratio,
        box_noise_scale=box_noise_scale,
    )
    with torch.no_grad():
        gen.label_embedding.weight.copy_(torch.eye(NUM_CLASSES + 1))
    return gen


def _run(gen, gt=GT):
    """Seed, then build the queries of ``gt``."""
    torch.manual_seed(SEED)
    return gen(_samples(gt))


def _draws():
    """The generator's four draws, reproduced from the same seed."""
    torch.manual_seed(SEED)
    batch = len(GT)
    flip_u = torch.rand((batch, NUM_DN))
    new_labels = torch.randint_like(
        torch.zeros(batch, NUM_DN, dtype=torch.long), 0, NUM_CLASSES
    )
    sign_bits = torch.randint_like(torch.zeros(batch, NUM_DN, 4), 0, 2)
    magnitude = torch.rand_like(torch.zeros(batch, NUM_DN, 4))
    return flip_u, new_labels, sign_bits, magnitude


def _slots():
    """Every (image, query, ground-truth index j, is_negative): query
    group * 2g + j is positive j, group * 2g + g + j is negative j."""
    for image in range(len(GT)):
        for group in range(GROUPS):
            for j in range(MAX_GT):
                start = group * 2 * MAX_GT
                yield image, start + j, j, False
                yield image, start + MAX_GT + j, j, True


def _normalised_xyxy(box):
    x1, y1, x2, y2 = box
    return [x1 / IMG_W, y1 / IMG_H, x2 / IMG_W, y2 / IMG_H]


def _logit(p):
    p = min(max(p, 0.0), 1.0)
    return math.log(max(p, LOGIT_EPS) / max(1.0 - p, LOGIT_EPS))


def _decode_labels(label_query):
    """Labels from the one-hot content queries of ``_generator``."""
    labels = label_query.argmax(-1)
    one_hot = torch.eye(NUM_CLASSES + 1)[labels]
    assert torch.equal(label_query, one_hot)
    return labels


def _hand_boxes(sign_bits, magnitude, scale=1.0):
    """Expected noised boxes, (B, D, 4) cxcywh in [0, 1], float64, with
    counts of clamped edges and of crossed edges on real slots."""
    expected = torch.zeros(len(GT), NUM_DN, 4, dtype=torch.float64)
    clamped = crossed = 0
    for image, query, j, negative in _slots():
        if j >= len(GT[image]):
            continue  # padded: an empty box, which no noise moves
        xyxy = _normalised_xyxy(GT[image][j][0])
        half = [(xyxy[2] - xyxy[0]) / 2, (xyxy[3] - xyxy[1]) / 2] * 2
        moved = []
        for edge in range(4):
            sign = 2.0 * sign_bits[image, query, edge].item() - 1.0
            size = magnitude[image, query, edge].item() + float(negative)
            moved.append(xyxy[edge] + sign * size * half[edge] * scale)
        clamped += sum(not 0.0 <= v <= 1.0 for v in moved)
        x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in moved)
        crossed += (x2 < x1) + (y2 < y1)
        expected[image, query] = torch.tensor(
            [(x1 + x2) / 2, (y1 + y2) / 2, abs(x2 - x1), abs(y2 - y1)],
            dtype=torch.float64,
        )
    return expected, clamped, crossed


def test_meta_and_shapes():
    label_query, bbox_query, attn_mask, meta = _run(_generator())
    assert meta['num_denoising_queries'] == NUM_DN
    assert meta['num_denoising_groups'] == GROUPS
    assert meta['max_num_target'] == MAX_GT
    assert label_query.shape == (2, NUM_DN, NUM_CLASSES + 1)
    assert bbox_query.shape == (2, NUM_DN, 4)
    total = NUM_DN + NUM_MATCHING
    assert attn_mask.shape == (total, total)
    assert attn_mask.dtype == torch.bool


def test_box_noise_matches_hand_computation():
    _, bbox_query, _, _ = _run(_generator())
    _, _, sign_bits, magnitude = _draws()
    expected, clamped, crossed = _hand_boxes(sign_bits, magnitude)
    # the seed exercises the clamp to [0, 1] and crossed edges (abs size)
    assert clamped > 0 and crossed > 0
    real = [(i, q) for i, q, j, _ in _slots() if j < len(GT[i])]
    for image, query in real:
        # float32 in the generator against float64 here: about 1e-7 on a
        # coordinate, below 1e-6 once through the logit (measured 5e-7);
        # halving the jitter moves some coordinate by more than 1e-2
        got = bbox_query[image, query].double()
        want = torch.tensor(
            [_logit(v) for v in expected[image, query].tolist()],
            dtype=torch.float64,
        )
        torch.testing.assert_close(
            got, want, rtol=0, atol=1e-5, msg=f'image {image} query {query}'
        )
    # padded slots (image 1, ground truth 1) stay empty boxes
    padded = [q for i, q, j, _ in _slots() if j >= len(GT[i])]
    assert len(padded) == 2 * GROUPS
    assert torch.all(bbox_query[1, padded].sigmoid() < 2 * LOGIT_EPS)


def test_label_noise_matches_hand_computation():
    label_query, _, _, _ = _run(_generator(label_noise_ratio=0.5))
    flip_u, new_labels, _, _ = _draws()
    labels = _decode_labels(label_query)
    flip = flip_u < 0.5 * 0.5  # probability label_noise_ratio / 2
    real_changed = pad_drawn = unhalved = 0
    for image, query, j, _ in _slots():
        if j >= len(GT[image]):
            # padded slots keep the pad label, whatever the draw says
            assert labels[image, query] == NUM_CLASSES
            pad_drawn += bool(flip[image, query])
            continue
        gt_label = GT[image][j][1]
        want = new_labels[image, query] if flip[image, query] else gt_label
        assert labels[image, query] == want, f'image {image} query {query}'
        real_changed += int(want != gt_label)
        unhalved += bool(
            0.25 <= flip_u[image, query] < 0.5
            and new_labels[image, query] != gt_label
        )
    # the seed flips at least one real label to another class, draws a
    # flip on at least one padded slot (which must be ignored), and draws
    # u in [ratio / 2, ratio) on a real slot, where a flip probability of
    # ``label_noise_ratio`` (not halved) would flip
    assert real_changed > 0 and pad_drawn > 0 and unhalved > 0


def test_attention_mask_written_out():
    _, _, attn_mask, _ = _run(_generator())
    # row: the query that attends, column: the key; x: attention blocked.
    # queries 0-3 are group 0, 4-7 group 1, 8-10 the matching queries
    rows = [
        '....xxxx...',
        '....xxxx...',
        '....xxxx...',
        '....xxxx...',
        'xxxx.......',
        'xxxx.......',
        'xxxx.......',
        'xxxx.......',
        'xxxxxxxx...',
        'xxxxxxxx...',
        'xxxxxxxx...',
    ]
    expected = torch.tensor([[c == 'x' for c in row] for row in rows])
    assert torch.equal(attn_mask, expected)


def test_layout_without_noise():
    """Noise off: query group * 2g + j and group * 2g + g + j both carry
    ground truth j (label and box); padded slots carry the pad label."""
    label_query, bbox_query, _, _ = _run(
        _generator(label_noise_ratio=0.0, box_noise_scale=0.0)
    )
    labels = _decode_labels(label_query)
    for image, query, j, _ in _slots():
        if j >= len(GT[image]):
            assert labels[image, query] == NUM_CLASSES
            continue
        box, gt_label = GT[image][j]
        assert labels[image, query] == gt_label
        x1, y1, x2, y2 = _normalised_xyxy(box)
        cxcywh = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        torch.testing.assert_close(
            bbox_query[image, query].sigmoid().double(),
            torch.tensor(cxcywh, dtype=torch.float64),
            rtol=0,
            atol=1e-6,
        )


def test_layout_positives_then_negatives():
    """Box noise on, boxes away from the border, scale 0.4 (edges never
    cross): every edge of a positive (group * 2g + j) moves by less than
    0.4 half-size of ground truth j, every edge of a negative
    (group * 2g + g + j) by 0.4 to 0.8 half-sizes."""
    scale = 0.4
    _, bbox_query, _, _ = _run(
        _generator(label_noise_ratio=0.0, box_noise_scale=scale), GT_INTERIOR
    )
    boxes = bbox_query.sigmoid().double()
    for image, query, j, negative in _slots():
        if j >= len(GT_INTERIOR[image]):
            continue
        gt = _normalised_xyxy(GT_INTERIOR[image][j][0])
        half = [(gt[2] - gt[0]) / 2, (gt[3] - gt[1]) / 2] * 2
        cx, cy, w, h = boxes[image, query].tolist()
        got = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        for edge in range(4):
            moved = abs(got[edge] - gt[edge]) / (half[edge] * scale)
            if negative:
                assert 1 - 1e-4 <= moved < 2 + 1e-4, (query, edge, moved)
            else:
                assert moved < 1 + 1e-4, (query, edge, moved)
