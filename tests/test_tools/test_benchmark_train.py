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
                         '320', '--runs', '1', '--warmup', '1'])  # fmt: skip
    shares = results['dfine_mm']['shares']
    assert list(shares) == [*tool.SECTIONS, 'other']
    assert sum(shares.values()) == pytest.approx(1.0)
    for section in tool.SECTIONS:  # every section ran and was timed
        assert 0.0 < shares[section] < 1.0, (section, shares)
    assert abs(shares['other']) < 0.2, shares
    assert results['dfine_mm']['time'] > 0


def test_channels_last_applies_to_dfine_mm_only():
    import torch

    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    model, reference, _ = tool.build(
        tool.parse_args([config, '--compare-transformers', '--channels-last'])
    )
    images = torch.rand(1, 3, 64, 64)
    for level in model.neck(model.backbone(images)):
        assert level.is_contiguous(memory_format=torch.channels_last)
    features = reference.model.backbone(images, torch.ones(1, 64, 64))
    assert not features[0][0].is_contiguous(memory_format=torch.channels_last)
