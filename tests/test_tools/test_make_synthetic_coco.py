import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
from pycocotools.coco import COCO

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'misc', 'make_synthetic_coco.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('make_synthetic', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_writes_the_dataset(tmp_path):
    out = tmp_path / 'syn'
    cmd = [sys.executable, SCRIPT, '--out', str(out), '--num-train', '5',
           '--num-val', '2', '--img-size', '64', '--num-classes', '3',
           '--seed', '1']  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'wrote 5 train and 2 val images' in result.stdout + result.stderr
    assert sorted(os.listdir(out)) == ['annotations', 'train', 'val']
    assert len(os.listdir(out / 'train')) == 5
    coco = COCO(str(out / 'annotations' / 'instances_val.json'))
    assert len(coco.getImgIds()) == 2
    assert [c['name'] for c in coco.dataset['categories']] == [
        'circle',
        'square',
        'triangle',
    ]


@pytest.mark.parametrize(
    'args, message',
    [
        (['--num-train', '-1'], '--num-train must be 0 or more'),
        (['--num-val', '-3'], '--num-val must be 0 or more'),
        (['--img-size', '31'], '--img-size must be at least 32'),
        (['--num-classes', '9'], '--num-classes must be between 1 and 8'),
        (['--num-classes', '0'], '--num-classes must be between 1 and 8'),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, capsys, args, message):
    tool = load_tool()
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as info:
        tool.main(['--out', str(out), *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_non_empty_directory_needs_overwrite(tmp_path, capsys):
    tool = load_tool()
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('keep me')
    base = ['--out', str(out), '--num-train', '2', '--num-val', '1',
            '--img-size', '32']  # fmt: skip
    with pytest.raises(SystemExit) as info:
        tool.main(base)
    assert info.value.code == 2
    assert 'pass --overwrite' in capsys.readouterr().err
    assert os.listdir(out) == ['notes.txt']

    tool.main(base + ['--overwrite'])
    assert sorted(os.listdir(out)) == [
        'annotations',
        'notes.txt',
        'train',
        'val',
    ]
    # a second run replaces the generated parts only
    (out / 'train' / 'stale.jpg').write_bytes(b'')
    tool.main(base + ['--overwrite', '--num-train', '1'])
    assert os.listdir(out / 'train') == ['000001.jpg']
    assert (out / 'notes.txt').read_text() == 'keep me'
