"""benchmark_train.py --profile: dfine_mm's training step by section (a
tiny D-FINE-N step; the shares, not the timings)."""

import pytest
from helpers import REPO_ROOT, load_script

pytest.importorskip('transformers')
pytestmark = pytest.mark.slow


def test_profile_splits_the_step_into_its_sections():
    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    results = tool.main([config, '--profile', '--batch', '1', '--size',
                         '320', '--runs', '1', '--warmup', '1',
                         '--channels-last'])  # fmt: skip
    # the worker's convolution weights were channels-last (the report goes
    # to mmengine's logger, whose stream a test cannot rely on capturing);
    # DFineChannelsLastHook itself: test_dfine_training.py
    assert results['dfine_mm']['channels_last'] is True
    shares = results['dfine_mm']['shares']
    assert list(shares) == [*tool.SECTIONS, 'other']
    assert sum(shares.values()) == pytest.approx(1.0)
    for section in tool.SECTIONS:  # every section ran and was timed
        assert 0.0 < shares[section] < 1.0, (section, shares)
    assert abs(shares['other']) < 0.2, shares
    assert results['dfine_mm']['time'] > 0
