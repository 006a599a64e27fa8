"""tools/analysis_tools/get_flops.py: the numbers of the README's model
table (parameters of the original's deploy form, GFLOPs at 640 x 640)."""

import os.path as osp

import pytest
from helpers import REPO_ROOT, load_script

from dfine_mm.converters.dfine import VARIANT_CONFIGS

#: variant -> (parameters, GFLOPs rounded as the README prints them); the
#: parameter counts are the official deploy-mode ones
README_TABLE = {'n': (3_753_799, 7.2), 's': (10_237_491, 25.2)}


@pytest.mark.parametrize('variant', sorted(README_TABLE))
def test_readme_numbers(variant):
    get_flops = load_script('tools/analysis_tools/get_flops.py')
    config = osp.join(REPO_ROOT, 'configs', 'dfine', VARIANT_CONFIGS[variant])
    result = get_flops.main([config])
    params, gflops = README_TABLE[variant]
    assert result['params'] == params
    assert round(result['gflops'], 1) == gflops
    assert result['gflops'] == pytest.approx(2 * result['macs'] / 1e9)


def test_fused_backbone_and_shape():
    """``--fuse-backbone`` also folds the backbone's norms (fewer
    parameters, N: 3,747,603); at 320 x 320 the maps have a quarter of the
    positions, the decoder's 300 queries stay."""
    get_flops = load_script('tools/analysis_tools/get_flops.py')
    config = osp.join(REPO_ROOT, 'configs', 'dfine', VARIANT_CONFIGS['n'])
    fused = get_flops.main([config, '--fuse-backbone'])
    assert fused['params'] == 3_747_603
    assert round(fused['gflops'], 2) == 7.11
    small = get_flops.main([config, '--shape', '320', '320'])
    assert small['params'] == 3_753_799
    assert 0.25 < small['gflops'] / README_TABLE['n'][1] < 0.4
