"""Building the original D-FINE from a checkout of its code.

The YAML merging and the refusal of a wrong folder run everywhere. The
tests that build the original model need a checkout of Peterande/D-FINE:
set ``DFINE_OFFICIAL_ROOT`` to it (e.g. ``git archive`` of commit 4a1f73a
unpacked), otherwise they are skipped. Each runs in a fresh process: the
original's modules are imported under the package name ``src``.
"""

import os
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO_ROOT

from dfine_mm.testing.official_dfine import (
    load_official_modules,
    read_official_yaml,
)

OFFICIAL_ROOT = os.environ.get('DFINE_OFFICIAL_ROOT')
needs_checkout = pytest.mark.skipif(
    not OFFICIAL_ROOT,
    reason='set DFINE_OFFICIAL_ROOT to a checkout of Peterande/D-FINE',
)


def test_yaml_includes_merge_like_the_original(tmp_path):
    (tmp_path / 'include').mkdir()
    (tmp_path / 'dataset.yml').write_text('num_classes: 80\nroot: a\n')
    (tmp_path / 'include' / 'model.yml').write_text(
        textwrap.dedent("""
        Head:
          layers: 6
          points: [3, 6, 3]
          loss: {vfl: 1, bbox: 5}
        """)
    )
    (tmp_path / 'include' / 'small.yml').write_text(
        textwrap.dedent("""
        __include__: ['../dataset.yml', './model.yml']
        root: b
        Head:
          layers: 3
          loss: {bbox: 2}
        """)
    )
    settings = read_official_yaml(str(tmp_path / 'include' / 'small.yml'))
    assert settings == dict(
        num_classes=80,
        root='b',
        Head=dict(layers=3, points=[3, 6, 3], loss=dict(vfl=1, bbox=2)),
    )


def test_a_folder_without_the_code_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a checkout'):
        load_official_modules(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='config not found'):
        read_official_yaml(str(tmp_path / 'missing.yml'))


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=REPO_ROOT),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@needs_checkout
def test_converted_original_computes_what_dfine_mm_computes():
    """The original N as the benchmark builds it, converted, gives
    dfine_mm's eval outputs (paired per query)."""
    output = _run(f"""
        import torch
        from scipy.optimize import linear_sum_assignment
        from dfine_mm.converters.dfine import (
            build_variant_model, convert_dfine_state_dict)
        from dfine_mm.testing import perturb_
        from dfine_mm.testing.official_dfine import build_official_dfine

        torch.manual_seed(0)
        official, criterion = build_official_dfine({OFFICIAL_ROOT!r}, 'n')
        perturb_(official, scale=0.05)
        state_dict, source = convert_dfine_state_dict(official.state_dict())
        assert source == 'official'
        model = build_variant_model('n')
        model.load_state_dict(state_dict, strict=True)
        images = torch.rand(1, 3, 640, 640,
                            generator=torch.Generator().manual_seed(0))
        official.eval(), model.eval()
        with torch.no_grad():
            out = official(images)
            logits, boxes = model(images, None, mode='tensor')
        a = torch.cat([out['pred_boxes'][0], out['pred_logits'][0]], -1)
        b = torch.cat([boxes[-1][0], logits[-1][0]], -1)
        rows, cols = linear_sum_assignment(torch.cdist(a, b).numpy())
        print('eval', (a[rows] - b[cols]).abs().max().item())
        """)
    assert float(output.split()[-1]) < 1e-4, output


@needs_checkout
def test_benchmark_runs_the_original_step():
    from helpers import load_script

    tool = load_script('tools/analysis_tools/benchmark_train.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    results = tool.main([config, '--compare-official', OFFICIAL_ROOT,
                         '--batch', '1', '--size', '256', '--runs', '1',
                         '--warmup', '1'])  # fmt: skip
    assert set(results) == {'dfine_mm', 'official'}
    for result in results.values():
        assert result['time'] > 0 and result['memory'] > 0


@needs_checkout
def test_latency_benchmark_runs_the_original_deployed():
    from helpers import load_script

    tool = load_script('tools/analysis_tools/benchmark_latency.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    medians = tool.main([config, '--deploy', '--compare-official',
                         OFFICIAL_ROOT, '--size', '320', '320', '--runs',
                         '1', '--warmup', '1'])  # fmt: skip
    assert set(medians) == {'dfine_mm', 'official'}
    assert all(ms > 0 for ms in medians.values())
