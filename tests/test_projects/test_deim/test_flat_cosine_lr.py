"""DEIMFlatCosineLR against the original schedule's values.

tests/data/deim/flat_cosine_lr.json tabulates the original
``flat_cosine_schedule`` with DEIM-D-FINE-S's settings (see
make_lr_fixture.py there). The original steps its schedule after each
optimizer step, so iteration k >= 1 trains at the table's value for k - 1,
and iteration 0 at 1/500 of the base LR.
"""

import json
import os.path as osp

import pytest
import torch
from mmengine.optim import OptimWrapper

from projects.DEIM.deim import DEIMFlatCosineLR

FIXTURE = osp.join(
    osp.dirname(__file__), '..', '..', 'data', 'deim', 'flat_cosine_lr.json'
)


@pytest.fixture(scope='module')
def table():
    with open(FIXTURE) as f:
        return json.load(f)


def scheduler(settings, base_lr):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base_lr)
    return DEIMFlatCosineLR.build_iter_from_epoch(
        OptimWrapper(optimizer),
        warmup_iters=settings['warmup_iter'],
        flat_epoch=settings['flat_epoch'],
        no_aug_epoch=settings['no_aug_epoch'],
        max_epochs=settings['epochs'],
        lr_gamma=settings['lr_gamma'],
        epoch_length=settings['iter_per_epoch'],
    )


def lr_of(sched):
    return sched.optimizer.param_groups[0]['lr']


def test_lr_of_each_iteration_equals_the_original(table):
    settings, values = table['settings'], table['schedule']
    base = settings['base_lr']
    sched = scheduler(settings, base)
    assert lr_of(sched) == pytest.approx(base / 500)  # iteration 0
    # stepped for real through the warm-up
    for step in range(1, 2002):
        sched.step()
        if str(step - 1) in values:
            assert lr_of(sched) == pytest.approx(
                values[str(step - 1)], rel=1e-9, abs=1e-15
            ), step
    # the rest of the table, at its iterations
    for key, value in values.items():
        sched.last_step = int(key) + 1
        got = sched._get_value()[0]
        assert got == pytest.approx(value, rel=1e-9, abs=1e-15), key
    assert len(values) >= 10


def test_epoch_based_config_is_converted(table):
    settings = dict(table['settings'])
    sched = scheduler(settings, 1.0)
    assert sched.by_epoch is False
    assert sched.total_iters == 132 * 3696
    assert sched.flat_iters == 64 * 3696
    with pytest.raises(ValueError, match='per iteration'):
        DEIMFlatCosineLR(
            sched.optimizer, warmup_iters=10, flat_iters=20, no_aug_iters=5,
            total_iters=50, by_epoch=True,
        )  # fmt: skip


def test_runner_style_build_runs_the_whole_schedule():
    """Built as the runner builds it (``end`` = the loop's max_epochs, in
    epochs): the schedule spans every iteration of the run and its length
    comes from ``end``."""
    from mmengine.registry import PARAM_SCHEDULERS

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = OptimWrapper(torch.optim.SGD([param], lr=1.0))
    cfg = dict(type='DEIMFlatCosineLR', warmup_iters=20, flat_epoch=4,
               no_aug_epoch=2, lr_gamma=0.5, convert_to_iter_based=True,
               end=10)  # fmt: skip
    sched = PARAM_SCHEDULERS.build(
        cfg, default_args=dict(optimizer=optimizer, epoch_length=100)
    )
    assert (sched.begin, sched.end) == (0, 1000)
    assert sched.total_iters == 1000 and sched.flat_iters == 400
    for _ in range(700):  # into the cosine (iterations 400-800)
        sched.step()
    assert 0.5 < lr_of(sched) < 1.0
    for _ in range(150):  # the tail
        sched.step()
    assert lr_of(sched) == pytest.approx(0.5)
    with pytest.raises(ValueError, match='max_epochs'):
        PARAM_SCHEDULERS.build(
            {k: v for k, v in cfg.items() if k != 'end'},
            default_args=dict(optimizer=optimizer, epoch_length=100),
        )  # fmt: skip
