"""SelectionRecorder: the indices of every top-k and sort, in call
order, and nothing else."""

import torch

from dfine_mm.deploy.selection_recorder import SelectionRecorder


def test_top_k_and_sort_indices_are_recorded_in_order():
    x = torch.tensor([[0.1, 0.9, 0.5, 0.7]])
    with SelectionRecorder() as recorder:
        top = x.topk(2, dim=1)
        (x * 2).max(1)  # not a selection op
        order = x.sort(dim=1, descending=True)
        stable = x.sort(dim=1, stable=True)
    assert len(recorder.selections) == 3
    for recorded, result in zip(recorder.selections, (top, order, stable)):
        assert torch.equal(recorded, result.indices)
    assert recorder.selections[0].tolist() == [[1, 3]]
