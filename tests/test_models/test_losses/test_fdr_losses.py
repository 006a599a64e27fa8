"""FGL, DDF and the detached varifocal loss on hand-computed cases."""

import math

import pytest
import torch
from helpers import HostReads

from dfine_mm.models.losses import (
    DFineDDFLoss,
    DFineFGLLoss,
    DFineVarifocalLoss,
)

LN2 = math.log(2.0)


def test_fgl_two_bin_soft_target():
    # softmax([0, ln 2, 0]) = [1/4, 1/2, 1/4]; target 0.3 between bins 0, 1
    pred = torch.tensor([[0.0, LN2, 0.0]], requires_grad=True)
    loss = DFineFGLLoss(loss_weight=1.0)(
        pred,
        torch.tensor([0.3]),
        weight_right=torch.tensor([0.3]),
        weight_left=torch.tensor([0.7]),
        weight=torch.tensor([0.5]),
        avg_factor=2.0,
    )
    # (0.7 * ln 4 + 0.3 * ln 2) * 0.5 / 2
    assert loss.item() == pytest.approx(1.7 * LN2 * 0.25, rel=1e-6)
    loss.backward()
    assert pred.grad.abs().sum() > 0


def test_fgl_weight_and_loss_weight():
    pred = torch.zeros(2, 5)  # uniform: every CE is ln 5
    target = torch.tensor([1.0, 3.9])
    right = torch.tensor([0.0, 0.9])
    loss = DFineFGLLoss(loss_weight=0.15)(
        pred, target, right, 1 - right, weight=torch.tensor([1.0, 2.0])
    )
    assert loss.item() == pytest.approx(0.15 * 3 * math.log(5), rel=1e-6)


def test_ddf_decoupled_mix():
    t = 5.0
    student = torch.zeros(4, 3)
    # softmax(teacher / T) = [1/2, 1/4, 1/4] for every edge
    teacher = torch.tensor([[t * LN2, 0.0, 0.0]]).repeat(4, 1)
    kl = 0.5 * math.log(1.5) + 0.5 * math.log(0.75)
    weight = torch.tensor([0.8, 0.5, 0.5, 0.5])
    positive = torch.tensor([True, False, False, False])
    loss = DFineDDFLoss(temperature=t, loss_weight=1.5)(
        student, teacher, weight, positive, num_pos=1.0, num_neg=3.0
    )
    expected = 1.5 * (0.8 * t * t * kl * 1 + 0.5 * t * t * kl * 3) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    'positive',
    [[True, False, True, False, False], [False] * 5, [True] * 5],
    ids=['mixed', 'no_matched', 'all_matched'],
)
def test_ddf_groups_means_without_host_reads(positive):
    # each group's mean (an empty group adds nothing), computed here with
    # boolean indexing, as before, against the loss that reads nothing
    gen = torch.Generator().manual_seed(1)
    student = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    student.requires_grad_(True)
    teacher = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    weight = torch.rand(5, generator=gen, dtype=torch.float64)
    positive = torch.tensor(positive)
    ddf = DFineDDFLoss(temperature=5.0, loss_weight=1.5)
    with HostReads() as reads:
        loss = ddf(student, teacher, weight, positive, 2.0, 3.0)
    assert reads.count == 0
    log_student = torch.log_softmax(student / 5.0, -1)
    target = torch.softmax(teacher / 5.0, -1)
    per_edge = weight * 25.0 * (target * (target.log() - log_student)).sum(-1)
    expected = sum(
        per_edge[mask].mean() * mix
        for mask, mix in ((positive, 2.0), (~positive, 3.0))
        if mask.any()
    )
    expected = 1.5 * expected / 5.0
    assert torch.allclose(loss, expected, rtol=1e-12, atol=0)
    (grad,) = torch.autograd.grad(loss, student)
    (expected_grad,) = torch.autograd.grad(expected, student)
    assert torch.allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


def test_ddf_zero_when_student_is_teacher_and_no_teacher_grad():
    # KL(p || p) is 0 up to float rounding, which DDF scales by T^2 = 25
    # (about 1e-6 for these logits): a fixed draw and a 1e-5 bound
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(8, 33, generator=gen).requires_grad_(True)
    teacher = student.detach().clone().requires_grad_(True)
    loss = DFineDDFLoss()(
        student,
        teacher,
        torch.ones(8),
        torch.zeros(8, dtype=torch.bool),
        num_pos=0.0,
        num_neg=2.0,
    )
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    loss.backward()
    assert teacher.grad is None


def test_varifocal_weight_is_detached_and_uses_the_one_hot():
    pred = torch.zeros(1, 3, requires_grad=True)
    target = torch.tensor([[0.5, 0.0, 0.0]])
    positive = torch.tensor([[True, True, False]])  # IoU 0 at class 1
    loss = DFineVarifocalLoss(alpha=0.75, gamma=2.0)(
        pred, target, positive, avg_factor=2.0
    )
    # weights: 0.5 (target), 0 (matched with IoU 0), 0.75 * 0.5**2
    expected = (0.5 + 0.0 + 0.1875) * LN2 / 2.0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d/dx of w * bce with a constant w: w * (sigmoid(x) - t)
    assert pred.grad[0, 0].item() == pytest.approx(0.5 * 0.0 / 2, abs=1e-7)
    assert pred.grad[0, 2].item() == pytest.approx(0.1875 * 0.5 / 2)
