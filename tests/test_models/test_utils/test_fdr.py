import pytest
import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from dfine_mm.models.utils import (
    bbox2distance,
    distance2bbox,
    distribution_integral,
    edge_std,
    fdr_initial_boxes,
    fdr_refine,
    weighting_function,
)

# W(n) of the original for reg_max 32, up 0.5 (spec section c.6)
W_C4_HEAD = [-4, -2, -1.7881, -1.5912, -1.4082, -1.2381, -1.0801, -0.9332]
W_C8_HEAD = [-8, -4, -3.4913, -3.0344, -2.6239, -2.2552, -1.9240, -1.6265]


@pytest.mark.parametrize('reg_scale, head', [(4, W_C4_HEAD), (8, W_C8_HEAD)])
def test_weighting_function_values(reg_scale, head):
    w = weighting_function(32, torch.tensor([0.5]), torch.tensor([reg_scale]))
    assert w.shape == (33,)
    torch.testing.assert_close(w[:8], torch.tensor(head), atol=1e-4, rtol=0)
    torch.testing.assert_close(w, -w.flip(0))  # symmetric
    assert w[16] == 0 and torch.all(w[1:] > w[:-1])  # increasing
    assert w[1] == pytest.approx(-0.5 * reg_scale)  # W(1) = -|a||c|


def test_weighting_function_rejects_odd_bins():
    with pytest.raises(ValueError, match='even'):
        weighting_function(31, 0.5, 4)


def test_integral_of_one_hot_is_the_bin_value():
    w = weighting_function(32, 0.5, 4)
    bins = torch.tensor([0, 7, 16, 32])
    corners = torch.full((1, 4, 33), -1e4)
    corners[0, torch.arange(4), bins] = 1e4
    out = distribution_integral(corners.view(1, 1, -1), w)
    torch.testing.assert_close(out.view(4), w[bins])


def test_zero_distance_returns_the_anchor():
    anchors = torch.tensor([[[0.5, 0.4, 0.2, 0.3], [0.1, 0.9, 0.05, 0.1]]])
    boxes = distance2bbox(anchors, torch.zeros(1, 2, 4), 4.0)
    torch.testing.assert_close(boxes, anchors)


def test_distance2bbox_moves_edges_by_size_fractions():
    anchor = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    # d = c / 2 doubles the half-extent on the left edge
    box = distance2bbox(anchor, torch.tensor([[2.0, 0.0, 0.0, 0.0]]), 4.0)
    xyxy = bbox_cxcywh_to_xyxy(box)
    torch.testing.assert_close(
        xyxy, torch.tensor([[0.3, 0.3, 0.6, 0.7]]), atol=1e-6, rtol=0
    )


def test_bbox2distance_round_trip():
    """Soft targets, integrated with W(n), give back the ground truth."""
    torch.manual_seed(0)
    anchors = torch.rand(50, 4) * 0.5 + 0.25
    anchors[:, 2:] = anchors[:, 2:] * 0.4 + 0.05
    gt = bbox_cxcywh_to_xyxy(anchors) + (torch.rand(50, 4) - 0.5) * 0.05
    target, w_right, w_left = bbox2distance(anchors, gt, 32, 4.0, 0.5)
    assert target.shape == w_right.shape == w_left.shape == (200,)
    torch.testing.assert_close(w_left + w_right, torch.ones(200))
    w = weighting_function(32, 0.5, 4.0)
    left = target.floor().long()
    distance = w[left] * w_left + w[left + 1] * w_right
    boxes = distance2bbox(anchors, distance.view(50, 4), 4.0)
    torch.testing.assert_close(
        bbox_cxcywh_to_xyxy(boxes), gt, atol=1e-5, rtol=0
    )


def test_bbox2distance_clamps_beyond_the_end_bins():
    anchor = torch.tensor([[0.5, 0.5, 0.1, 0.1]])
    # left/top edges a quarter width from the centre: d* = 1 - c/2 = -1,
    # between W(6) = -1.0801 and W(7) = -0.9332; right/bottom far outside
    gt = torch.tensor([[0.475, 0.475, 0.99, 0.99]])
    target, w_right, w_left = bbox2distance(anchor, gt, 32, 4.0, 0.5)
    w = weighting_function(32, 0.5, 4.0)
    assert target[0] == 6
    expected = float((-1 - w[6]) / (w[7] - w[6]))
    assert w_right[0] == pytest.approx(expected, abs=1e-5)
    # right/bottom beyond W(32): all weight on the last bin
    assert target[2] == pytest.approx(31.9)
    assert w_right[2] == 1 and w_left[2] == 0


def test_fdr_layers_accumulate_corners():
    torch.manual_seed(0)
    branch = torch.nn.Linear(8, 4 * 33)
    query, prev = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    prev_corners = torch.randn(2, 3, 132)
    anchors = torch.rand(2, 3, 4) * 0.5 + 0.25
    w = weighting_function(32, 0.5, 4.0)
    corners, boxes = fdr_refine(
        branch, query, prev, prev_corners, anchors, w, 4.0
    )
    torch.testing.assert_close(corners, branch(query + prev) + prev_corners)
    expected = distance2bbox(anchors, distribution_integral(corners, w), 4.0)
    torch.testing.assert_close(boxes, expected)
    # gradients flow through the accumulated corners
    prev_corners.requires_grad_(True)
    fdr_refine(branch, query, prev, prev_corners, anchors, w, 4.0)[
        1
    ].sum().backward()
    assert prev_corners.grad is not None


def test_initial_boxes_with_zero_branch_keep_the_reference():
    branch = torch.nn.Linear(8, 4)
    torch.nn.init.zeros_(branch.weight)
    torch.nn.init.zeros_(branch.bias)
    reference = torch.rand(2, 3, 4) * 0.8 + 0.1
    out = fdr_initial_boxes(branch, torch.randn(2, 3, 8), reference)
    torch.testing.assert_close(out, reference, atol=1e-6, rtol=0)


def test_matches_transformers_functions():
    from transformers.models.d_fine import modeling_d_fine as hf

    up, scale = torch.tensor([0.5]), torch.tensor([8.0])
    torch.testing.assert_close(
        weighting_function(32, up, scale), hf.weighting_function(32, up, scale)
    )
    anchors = torch.rand(2, 5, 4) * 0.5 + 0.2
    distance = torch.randn(2, 5, 4)
    torch.testing.assert_close(
        distance2bbox(anchors, distance, scale),
        hf.distance2bbox(anchors, distance, scale),
    )


def test_edge_std_of_hand_made_distributions():
    """Two bins with probability 1/2 each: std = |W(i) - W(j)| / 2 in
    distance units; times the anchor size / c in box units. A sharper
    distribution (more mass on one bin) has a smaller std; one-hot is 0."""
    reg_max, c = 8, 4.0
    project = weighting_function(reg_max, 0.5, c)
    anchors = torch.tensor([[0.5, 0.5, 0.4, 0.2]])  # cxcywh

    def logits(probs):  # the same distribution on the four edges
        return torch.log(torch.tensor(probs).clamp(min=1e-12)).repeat(4)[None]

    half = [0.0] * 3 + [0.5, 0.0, 0.5] + [0.0] * 3
    corners = logits(half)
    boxes = distance2bbox(anchors, distribution_integral(corners, project), c)
    std = edge_std(corners, boxes, project, c)
    expected = (project[5] - project[3]).abs() / 2
    size = torch.tensor([0.4, 0.2, 0.4, 0.2]) / c  # anchor size / c
    torch.testing.assert_close(std[0], expected * size)
    sharper = logits([0.0] * 3 + [0.1, 0.0, 0.9] + [0.0] * 3)
    boxes2 = distance2bbox(anchors, distribution_integral(sharper, project), c)
    assert (edge_std(sharper, boxes2, project, c) < std).all()
    one_hot = logits([0.0] * 4 + [1.0] + [0.0] * 4)
    boxes3 = distance2bbox(anchors, distribution_integral(one_hot, project), c)
    torch.testing.assert_close(
        edge_std(one_hot, boxes3, project, c), torch.zeros(1, 4),
        atol=1e-6, rtol=0,
    )  # fmt: skip
    random = torch.randn(5, 4 * (reg_max + 1))
    boxes4 = distance2bbox(
        anchors.expand(5, 4), distribution_integral(random, project), c
    )
    assert (edge_std(random, boxes4, project, c) >= 0).all()
