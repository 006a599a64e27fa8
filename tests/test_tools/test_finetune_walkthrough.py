"""The README's "Fine-tune on your data" commands, run as written on the
synthetic data set with a tiny budget (the config edits a user makes, plus
``--cfg-options`` that shrink the run)."""

import glob
import json
import os.path as osp
import re
import shlex
import shutil
from pathlib import Path

import torch
from helpers import REPO_ROOT, cli_options, load_script

MARKER = 'tests/test_tools/test_finetune_walkthrough.py runs these commands'
TEMPLATE = 'configs/dfine/custom/dfine-s_hgnetv2-b0_4xb16-220e_custom.py'
TINY = {
    'model.backbone.init_cfg': None,
    'model.data_preprocessor.batch_augments': None,
    'model.num_queries': 30,
    'model.test_cfg.max_per_img': 30,
    'train_dataloader.batch_size': 4,
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'train_dataloader.dataset.pipeline.7.scale': (64, 64),
    'val_dataloader.num_workers': 0,
    'val_dataloader.persistent_workers': False,
    'val_dataloader.dataset.pipeline.1.scale': (64, 64),
    'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False,
    'test_dataloader.dataset.pipeline.1.scale': (64, 64),
}


def readme_commands():
    """The commands of the walk-through block, joined lines and all."""
    text = Path(REPO_ROOT, 'README.md').read_text()
    block = text[text.index(MARKER) :]
    block = block[block.index('```bash') + 7 :]
    block = block[: block.index('```')]
    return [
        line.strip() for line in block.splitlines()
        if line.strip() and not line.strip().startswith('#')
    ]  # fmt: skip


def run_tool(script, argv):
    return load_script(script).main(argv)


def objects365_checkpoint(path):
    """An official-layout D-FINE-S file with Objects365's 366-row heads."""
    from test_converters.test_dfine_converter import official_layout

    state = official_layout('s')
    for key, value in list(state.items()):
        if 'score_head' in key:
            state[key] = torch.randn(366, *value.shape[1:])
        elif key == 'decoder.denoising_class_embed.weight':
            state[key] = torch.randn(367, value.shape[1])
    torch.save({'model': state}, path)


def edit_config(path, data_root):
    """What the user does in the template's "edit here" block (and the
    tiny budget: 1 epoch)."""
    text = Path(path).read_text()
    base = osp.join(REPO_ROOT, 'configs', 'dfine')
    text = text.replace("_base_ = '../", f"_base_ = '{base}/")
    text = re.sub(r"data_root = '.*'", f"data_root = '{data_root}/'", text)
    text = re.sub(r'classes = \(.*\)', "classes = ('circle', 'square')", text)
    text = re.sub(r'max_epochs = \d+', 'max_epochs = 1', text)
    text = re.sub(r'stop_epoch = \d+', 'stop_epoch = 1', text)
    Path(path).write_text(text)


def test_readme_walkthrough(tmp_path):
    commands = readme_commands()
    assert len(commands) == 6, commands
    weights = str(tmp_path / 'dfine_s_obj365.pth')
    objects365_checkpoint(weights)
    paths = {
        'configs/dfine/custom/my_data.py': str(tmp_path / 'my_data.py'),
        'data/custom': str(tmp_path / 'custom'),
        'work_dirs/my_data': str(tmp_path / 'work'),
        'outputs/my_data': str(tmp_path / 'outputs'),
        'dfine_s_obj365.pth': weights,
        'epoch_220.pth': 'epoch_1.pth',
    }
    for command in commands:
        for old, new in paths.items():
            command = command.replace(old, new)
        program, *argv = shlex.split(command)
        if program == 'cp':
            shutil.copy(osp.join(REPO_ROOT, argv[0]), argv[1])
            edit_config(argv[1], paths['data/custom'])
            continue
        assert program == 'python', command
        script, *argv = argv
        if script in ('tools/train.py', 'tools/test.py'):
            if '--cfg-options' not in argv:
                argv.append('--cfg-options')
            argv += cli_options(TINY)
            if script == 'tools/test.py':
                argv += ['--work-dir', paths['work_dirs/my_data']]
        code = run_tool(script, argv)
        assert code in (None, 0) or isinstance(code, dict), (command, code)
    work = paths['work_dirs/my_data']
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    log = Path(sorted(glob.glob(osp.join(work, '*', '*.log')))[0]).read_text()
    assert 'converted official D-FINE checkpoint' in log
    assert "starting fresh: ['circle', 'square']" in log
    predictions = osp.join(paths['outputs/my_data'], 'predictions.json')
    assert isinstance(json.loads(Path(predictions).read_text()), list)
    assert len(glob.glob(osp.join(paths['outputs/my_data'], 'vis', '*',
                                  '*.jpg'))) == 8  # fmt: skip
