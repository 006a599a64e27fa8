"""benchmark_latency.py: both models timed alike (a tiny run; the
results, not the timings, are checked)."""

import pytest
import torch
from helpers import REPO_ROOT, load_script

pytest.importorskip('transformers')

CONFIG = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis_tools/benchmark_latency.py')


def test_deploy_form_against_transformers_in_fp16(tool, monkeypatch):
    forwards = {}

    def keep(*args):
        forwards.update(runners(*args))
        return forwards

    runners = tool.runners
    monkeypatch.setattr(tool, 'runners', keep)
    medians = tool.main([CONFIG, '--deploy', '--compare-transformers',
                         '--fp16', '--size', '256', '256', '--runs', '1',
                         '--warmup', '1'])  # fmt: skip
    assert set(medians) == {'dfine_mm', 'transformers'}
    assert all(ms > 0 for ms in medians.values())
    logits, _ = forwards['dfine_mm']()  # as it was timed: under autocast
    assert logits.dtype == torch.float16


def test_a_checkpoint_with_a_comparison_is_refused(tool, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args([CONFIG, '--checkpoint', 'x.pth',
                         '--compare-transformers'])  # fmt: skip
    assert 'cannot be combined' in capsys.readouterr().err


def test_a_folder_that_is_not_the_original_code_is_refused(
    tool, tmp_path, capsys
):
    with pytest.raises(SystemExit):
        tool.parse_args([CONFIG, '--compare-official', str(tmp_path)])
    err = capsys.readouterr().err
    assert 'is not a checkout of the original D-FINE code' in err
    assert 'dfine_decoder.py is missing' in err
