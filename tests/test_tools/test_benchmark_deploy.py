"""benchmark_deploy.py: PyTorch, ONNX Runtime and OpenVINO fp32 / low
precision / INT8 side by side (D-FINE-N, 256 px, a few rounds: the table
and the parity of the fp32 runtimes, not the timings)."""

import pytest
from helpers import REPO_ROOT, load_script

pytest.importorskip('onnxruntime')
pytest.importorskip('openvino')
pytest.importorskip('nncf')
pytestmark = pytest.mark.slow


def test_five_runtimes_side_by_side(tmp_path):
    tool = load_script('tools/analysis_tools/benchmark_deploy.py')
    config = f'{REPO_ROOT}/configs/dfine/dfine-n_hgnetv2-b0_4xb32-160e_coco.py'
    out = tmp_path / 'report.md'
    assert tool.main([
        config, '--size', '256', '256', '--runs', '2', '--warmup', '1',
        '--calib-images', '2', '--out', str(out),
    ]) == 0  # fmt: skip
    report = out.read_text()
    assert 'ISA: ' in report and 'OpenVINO' in report, report
    rows = {
        line.split('|')[1].strip(): line.split('|')[2:-1]
        for line in report.splitlines() if line.startswith('| ')
    }  # fmt: skip
    names = ['onnxruntime', 'pytorch', 'openvino fp32', 'openvino lowp',
             'openvino int8']  # fmt: skip
    assert [n for n in names if n in rows] == names, report
    for name in ('onnxruntime', 'openvino fp32'):
        score, box, labels = rows[name][3].split(',')
        assert float(score) <= 1e-3 and float(box) <= 1e-2, report
        assert int(labels) == 0, report
    assert rows['openvino fp32'][2].strip() == '1.00x'
