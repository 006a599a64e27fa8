"""DEIMDenseO2OHook: the Dense O2O phases of a DEIM config switch at the
config's top-level epochs (a child that sets them moves the switches), and
batch MixUp joins the data preprocessor in front of the multi-scale
resize."""

import pytest
from helpers import REPO_ROOT, runner_and_hook
from mmdet.datasets import MultiImageMixDataset
from mmengine.dataset import BaseDataset

from dfine_mm.models.data_preprocessors import DFineBatchMultiScaleResize
from projects.DEIM.deim import DEIMBatchMixUp, DEIMDenseO2OHook

S_CONFIG = (
    f'{REPO_ROOT}/projects/DEIM/configs/deim-dfine-s_hgnetv2-b0_4xb8-132e_'
    'coco.py'
)


class FourImages(BaseDataset):
    """Four images' worth of a data set (never loaded here)."""

    def load_data_list(self):
        return [dict(img_id=i) for i in range(4)]


def runner_of(tmp_path, lines=''):
    return runner_and_hook(
        tmp_path, S_CONFIG, lines, 'DEIMDenseO2OHook',
        lambda cfg: MultiImageMixDataset(FourImages(), cfg.train_pipeline),
    )  # fmt: skip


def pipeline_at(runner, hook, epoch):
    runner.epoch = epoch
    hook.before_train_epoch(runner)
    return runner.train_dataloader.dataset.pipeline_types


STAGE2 = ['DFineSanitizeBoxes', 'RandomFlip', 'Resize', 'DFineSanitizeBoxes',
          'PackDetInputs']  # fmt: skip
MOSAIC = ['DEIMMosaic', 'DFinePhotometricDistort', 'DEIMSkipAfterMosaic']
AUGMENT = ['DFinePhotometricDistort', 'Expand', 'RandomApply']


@pytest.mark.parametrize(
    'lines, epochs',
    [
        ('', (4, 64, 120)),  # DEIM-S: the original's policy.epoch
        ('mosaic_epochs = (2, 5)\nstop_epoch = 7\n', (2, 5, 7)),
    ],
)
def test_phases_switch_at_the_configs_epochs(tmp_path, lines, epochs):
    runner, hook = runner_of(tmp_path, lines)
    hook.before_train(runner)
    first, second, stop = epochs
    for epoch, expected in [
        (0, STAGE2),
        (first - 1, STAGE2),
        (first, MOSAIC + STAGE2),
        (second - 1, MOSAIC + STAGE2),
        (second, AUGMENT + STAGE2),
        (stop - 1, AUGMENT + STAGE2),
        (stop, STAGE2),
        (stop + 3, STAGE2),
    ]:
        assert pipeline_at(runner, hook, epoch) == expected, epoch
    (resize,) = [
        a
        for a in runner.model.data_preprocessor.batch_augments
        if isinstance(a, DFineBatchMultiScaleResize)
    ]
    assert resize.stop_epoch == stop


def test_a_resumed_run_gets_its_epochs_phase(tmp_path):
    runner, hook = runner_of(tmp_path)
    hook.before_train(runner)
    assert pipeline_at(runner, hook, 70) == AUGMENT + STAGE2


def test_mixup_goes_in_front_with_the_configs_epochs(tmp_path):
    runner, hook = runner_of(tmp_path, 'mixup_epochs = (3, 9)\n')
    hook.before_train(runner)
    mixup, resize = runner.model.data_preprocessor.batch_augments
    assert isinstance(mixup, DEIMBatchMixUp)
    assert isinstance(resize, DFineBatchMultiScaleResize)
    assert (mixup.epochs, mixup.prob) == ((3, 9), 0.5)
    # a MixUp already in the preprocessor is used, not doubled
    hook.before_train(runner)
    assert len(runner.model.data_preprocessor.batch_augments) == 2


def test_equal_mosaic_epochs_turn_the_mosaic_off(tmp_path):
    runner, hook = runner_of(tmp_path, 'mosaic_epochs = (4, 4)\n')
    hook.before_train(runner)
    assert pipeline_at(runner, hook, 4) == AUGMENT + STAGE2
    assert MOSAIC[0] not in {t['type'] for s in hook.stages
                             for t in s['pipeline']}  # fmt: skip


def test_missing_settings_are_named(tmp_path):
    runner, _ = runner_of(tmp_path)
    runner.cfg.mosaic_epochs = None
    with pytest.raises(ValueError, match='mosaic_epochs'):
        DEIMDenseO2OHook().before_train(runner)
    with pytest.raises(ValueError, match='first epoch with'):
        DEIMDenseO2OHook(mosaic_epochs=(1, 2, 3)).before_train(runner)
