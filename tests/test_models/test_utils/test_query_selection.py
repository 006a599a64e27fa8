"""Query selection: recomputing the kept rows with autograd gives the
ranking, values and gradients of the full computation, and keeps no
full-size activation for the backward pass."""

import pytest
import torch
from torch import nn

from dfine_mm.converters.dfine import build_variant_model
from dfine_mm.models.utils.query_selection import (
    gather_rows,
    index_rows,
    select_queries,
)

B, S, C, K, Q = 2, 500, 32, 7, 40
# invalid anchors: a tenth of the positions
VALID = torch.rand(1, S, 1, generator=torch.Generator().manual_seed(3)) > 0.1
VALID = VALID.float()


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    project = nn.Sequential(nn.Linear(C, C), nn.LayerNorm(C))
    classify = nn.Linear(C, K)
    return project, classify


def _saved_numels(fn):
    """Result of ``fn()`` and the sizes of the tensors autograd saved."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, sizes


def test_index_rows_takes_the_rows_gather_takes():
    tensor = torch.randn(B, S, C)
    index = torch.randint(0, S, (B, Q))
    assert torch.equal(index_rows(tensor, index), gather_rows(tensor, index))


@pytest.mark.parametrize('selected', [False, True])
def test_select_queries_matches_a_plain_top_k(selected):
    project, classify = _parts()
    memory = torch.randn(B, S, C)
    index, rows, logits = select_queries(
        memory, project, classify, Q, VALID, selected_rows_backward=selected
    )
    full = project(VALID * memory)
    expected = classify(full).max(-1).values.topk(Q, dim=1)[1]
    assert torch.equal(index, expected)
    torch.testing.assert_close(rows, gather_rows(full, expected))
    torch.testing.assert_close(logits, gather_rows(classify(full), expected))
    assert rows.shape == (B, Q, C) and logits.shape == (B, Q, K)


@pytest.mark.parametrize('selected', [False, True])
def test_invalid_positions_are_zeroed_before_projection(selected):
    classify = nn.Linear(C, K)
    nn.init.ones_(classify.weight)
    nn.init.zeros_(classify.bias)
    memory = -torch.rand(B, S, C) - 0.1  # every valid position scores < 0
    assert (VALID == 0).sum() >= Q
    index, rows, _ = select_queries(
        memory,
        nn.Identity(),
        classify,
        Q,
        VALID,
        selected_rows_backward=selected,
    )
    assert not VALID[0, :, 0][index].any()  # the zeroed ones score 0: top
    assert torch.equal(rows, torch.zeros_like(rows))


def test_selected_rows_backward_gives_the_same_gradients():
    grads = []
    for selected in (False, True):
        project, classify = _parts()
        memory = torch.randn(
            B, S, C, generator=torch.Generator().manual_seed(1)
        )
        memory.requires_grad_(True)
        _, rows, logits = select_queries(
            memory,
            project,
            classify,
            Q,
            VALID,
            selected_rows_backward=selected,
        )
        (rows.square().sum() + logits.sigmoid().sum()).backward()
        grads.append(
            [memory.grad]
            + [p.grad for p in (*project.parameters(), *classify.parameters())]
        )
    for full, kept in zip(*grads):
        torch.testing.assert_close(kept, full, rtol=1e-5, atol=1e-7)
    assert grads[0][0].abs().sum(-1).ne(0).sum() == B * Q  # rows kept only


@pytest.mark.parametrize(
    'selected, largest', [(False, B * S * C), (True, B * Q * C)]
)
def test_selected_rows_backward_saves_no_full_size_activation(
    selected, largest
):
    project, classify = _parts()
    memory = torch.randn(B, S, C, requires_grad=True)
    _, sizes = _saved_numels(
        lambda: select_queries(
            memory,
            project,
            classify,
            Q,
            VALID,
            selected_rows_backward=selected,
        )
    )
    assert max(sizes) == largest


def test_dfine_training_selects_queries_on_the_kept_rows_only():
    model = build_variant_model('n', num_classes=3)
    model.dn_query_generator = None
    shapes = ((16, 16), (8, 8), (4, 4))
    memory = torch.randn(2, 336, 128, requires_grad=True)

    def largest_saved(training: bool) -> int:
        model.train(training)
        _, sizes = _saved_numels(
            lambda: model.pre_decoder(memory, shapes, None)
        )
        return max(sizes)

    full = 2 * 336 * 128
    assert largest_saved(training=True) < full
    assert largest_saved(training=False) == full  # eval keeps one pass
