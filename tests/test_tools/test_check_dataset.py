"""tools/misc/check_dataset.py and ``tools/train.py --check-data``: a
synthetic set with one truncated JPEG, one missing file, one unknown
category and one NaN box; every problem is named, the exit is non-zero."""

import json
import os
import time

import pytest
from helpers import DEMO_CONFIG, load_tool, tiny_train_options
from mmengine.config import Config

from dfine_mm.datasets import generate_synthetic_coco
from dfine_mm.datasets.check import check_coco_dataset
from dfine_mm.datasets.synthetic import synthetic_classes

CONFIG = """
train_dataloader = dict(dataset=dict(
    type='DFineCocoDataset', data_root={root!r},
    ann_file='annotations/instances_train.json',
    data_prefix=dict(img='train/'),
    metainfo=dict(classes={classes!r})))
"""


@pytest.fixture(scope='module')
def broken(tmp_path_factory):
    """600 images (500 train) with the four defects in the training split;
    returns (config path, {defect: the file or annotation it is in})."""
    root = tmp_path_factory.mktemp('broken_coco')
    generate_synthetic_coco(str(root), num_train=500, num_val=100,
                            img_size=96, num_classes=5)  # fmt: skip
    ann_path = root / 'annotations' / 'instances_train.json'
    coco = json.loads(ann_path.read_text())
    images = coco['images']
    truncated = root / 'train' / images[10]['file_name']
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    missing = root / 'train' / images[20]['file_name']
    os.remove(missing)
    anns = coco['annotations']
    anns[5]['category_id'] = 99
    anns[7]['bbox'][2] = float('nan')
    ann_path.write_text(json.dumps(coco))  # NaN written as JSON's NaN
    config = root / 'check.py'
    classes = tuple(synthetic_classes(5))
    config.write_text(CONFIG.format(root=str(root) + '/', classes=classes))
    names = {img['id']: img['file_name'] for img in images}
    return str(config), dict(
        truncated=images[10]['file_name'],
        missing=images[20]['file_name'],
        unknown=f'{names[anns[5]["image_id"]]}: annotation {anns[5]["id"]}',
        nan=f'{names[anns[7]["image_id"]]}: annotation {anns[7]["id"]}',
    )


def test_names_all_four_defects(broken, capsys):
    config, defects = broken
    tool = load_tool('misc/check_dataset')
    start = time.time()
    assert tool.main([config, '--workers', '2']) == 1
    seconds = time.time() - start
    out, err = capsys.readouterr()
    assert 'unreadable image: ' in err and defects['truncated'] in err
    assert 'missing image: ' in err and defects['missing'] in err
    assert f'unknown category: {defects["unknown"]}' in err
    assert f'NaN / inf box: {defects["nan"]}' in err
    assert '500 images checked' in out
    rows = ('unreadable image', 'missing image', 'unknown category',
            'NaN / inf box')  # fmt: skip
    for row in rows:
        line = next(x for x in out.splitlines() if f'{row} (error)' in x)
        assert line.split('(error)')[1].split()[0] == '1', line
    print(f'check_dataset: 500 images in {seconds:.2f} s')


def test_clean_split_passes_and_counts(broken):
    config, _ = broken
    cfg = Config.fromfile(config)
    root = cfg.train_dataloader.dataset.data_root
    report = check_coco_dataset(
        root + 'annotations/instances_val.json', root + 'val/',
        synthetic_classes(5),
    )  # fmt: skip
    assert report.ok and report.images == 100 and not report.problems
    with open(root + 'annotations/instances_val.json') as file:
        coco = json.load(file)
    assert report.annotations == len(coco['annotations'])
    with_boxes = {a['image_id'] for a in coco['annotations']}
    assert report.empty_images == 100 - len(with_boxes)


def test_train_check_data_stops_before_training(broken):
    config, defects = broken
    train = load_tool('train')
    assert train.parse_args([config, '--check-data']).check_data
    with pytest.raises(ValueError, match='training data has errors') as err:
        train.check_data(Config.fromfile(config))
    for name in defects.values():
        assert name in str(err.value)


def test_missing_data_paths_stop_the_tools_first(synthetic_coco, tmp_path):
    """A wrong data root, image folder or evaluator file is named before
    anything is built (mmdet would fail after building the model)."""
    from dfine_mm.datasets.check import check_data_paths

    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(tiny_train_options(synthetic_coco, str(tmp_path)))
    check_data_paths(cfg, ['train', 'val', 'test'])  # all there

    moved = cfg.copy()
    moved.train_dataloader.dataset.data_root = str(tmp_path / 'nowhere/')
    with pytest.raises(FileNotFoundError, match='train data: the annotat'):
        check_data_paths(moved, ['train'])
    check_data_paths(moved, ['val', 'test'])  # only the asked splits

    no_images = cfg.copy()
    no_images.val_dataloader.dataset.data_prefix = dict(img='missing/')
    with pytest.raises(FileNotFoundError, match='image folder .*missing'):
        check_data_paths(no_images, ['val'])

    no_metric_file = cfg.copy()
    no_metric_file.test_evaluator.ann_file = str(tmp_path / 'gone.json')
    with pytest.raises(FileNotFoundError, match='the test_evaluator.ann_f'):
        check_data_paths(no_metric_file, ['test'])

    remote = cfg.copy()  # file backends: not checked here
    remote.train_dataloader.dataset.data_root = 's3://bucket/coco/'
    check_data_paths(remote, ['train'])

    # the tools run the check before building the runner
    train = load_tool('train')
    nowhere = f'train_dataloader.dataset.data_root={tmp_path}/nowhere/'
    argv = [DEMO_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
            nowhere]  # fmt: skip
    with pytest.raises(FileNotFoundError, match='--cfg-options train_data'):
        train.main(argv)
    test = load_tool('test')
    argv = [DEMO_CONFIG, 'model.pth', '--work-dir', str(tmp_path),
            '--cfg-options', f'test_dataloader.dataset.data_root='
            f'{synthetic_coco}/', f'test_evaluator.ann_file={tmp_path}/g.json',
            ]  # fmt: skip
    with pytest.raises(FileNotFoundError, match=r'test_evaluator\S* \S*/g'):
        test.main(argv)
