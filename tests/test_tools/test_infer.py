"""tools/infer.py on a folder of images and a video with a demo-sized
checkpoint: annotated outputs, a valid video, COCO results, bad inputs."""

import glob
import json
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from helpers import DEMO_CONFIG, MMEngineLogRecords, load_script
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from pycocotools.coco import COCO

from dfine_mm.datasets.synthetic import synthetic_classes

FPS, SIZE, FRAMES = 10, (96, 80), 20  # a 2-second video


def load_tool():
    return load_script('tools/infer.py')


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    """The demo model (D-FINE-N, 5 classes) with its initial weights."""
    register_all_modules()
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'demo.pth')
    meta = dict(dataset_meta=dict(classes=synthetic_classes(5)))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


@pytest.fixture
def inputs(synthetic_coco, tmp_path):
    """5 images (one in a sub-folder) plus a note, a 2-second video, and
    a corrupt image, a corrupt video and a missing file."""
    folder = tmp_path / 'photos'
    (folder / 'more').mkdir(parents=True)
    images = sorted(glob.glob(osp.join(synthetic_coco, 'val', '*')))[:5]
    for image in images[:4]:
        shutil.copy(image, folder)
    shutil.copy(images[4], folder / 'more')
    (folder / 'notes.txt').write_text('not an image')
    video = str(tmp_path / 'clip.mp4')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), FPS, SIZE)
    rng = np.random.default_rng(0)
    for _ in range(FRAMES):
        frame = rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
        writer.write(frame)
    writer.release()
    (tmp_path / 'corrupt.jpg').write_bytes(b'\xff\xd8 not a jpeg')
    (tmp_path / 'broken.avi').write_bytes(b'not a video')
    (tmp_path / 'readme.md').write_text('skip me')
    bad = ['corrupt.jpg', 'broken.avi', 'missing.png']
    return [str(folder), video, str(tmp_path / 'readme.md')] + [
        str(tmp_path / b) for b in bad
    ]


def test_folder_and_video(demo_checkpoint, inputs, tmp_path):
    out_dir = tmp_path / 'out'
    argv = inputs + [
        '--model', DEMO_CONFIG, '--weights', demo_checkpoint,
        '--out-dir', str(out_dir), '--score-thr', '0.01',
        '--batch-size', '3', '--show-uncertainty',
    ]  # fmt: skip
    with MMEngineLogRecords() as records:
        code = load_tool().main(argv)
    log = '\n'.join(records.messages)
    assert code == 1  # the unreadable inputs
    for name in ('corrupt.jpg', 'broken.avi', 'missing.png'):
        assert f'{name}' in log.split('could not be read')[-1], name
    assert 'skipped' in log and 'readme.md' in log
    assert 'images/s' in log
    drawn = sorted(glob.glob(str(out_dir / 'vis' / '**' / '*.jpg'),
                             recursive=True))  # fmt: skip
    assert len(drawn) == 5
    assert any(osp.join('photos', 'more') in d for d in drawn)
    video = cv2.VideoCapture(str(out_dir / 'clip.mp4'))
    assert video.isOpened()
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH),
            video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == SIZE  # fmt: skip
    results = json.loads((out_dir / 'predictions.json').read_text())
    assert results, 'no detections above 0.01'
    ids = sorted({r['image_id'] for r in results})
    assert len(ids) <= 5 + FRAMES
    frames = {r['frame'] for r in results if 'frame' in r}
    assert frames <= set(range(FRAMES)) and frames
    gt = COCO()
    gt.dataset = dict(
        images=[dict(id=i) for i in range(1, 5 + FRAMES + 1)],
        annotations=[],
        categories=[dict(id=i + 1, name=n)
                    for i, n in enumerate(synthetic_classes(5))],
    )  # fmt: skip
    gt.createIndex()
    loaded = gt.loadRes(str(out_dir / 'predictions.json'))
    assert len(loaded.getAnnIds()) == len(results)
    for r in results:
        assert 1 <= r['category_id'] <= 5 and r['score'] >= 0.01


def test_bad_model_and_weights(tmp_path, capsys):
    tool = load_tool()
    image = str(tmp_path / 'a.jpg')
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    assert tool.main([image, '--model', 'dfine-l_hgnetv2_coco']) == 2
    assert 'dfine-l_hgnetv2-b4_4xb8-80e_coco' in capsys.readouterr().err
    assert tool.main([image, '--model', DEMO_CONFIG]) == 2
    assert 'give --weights' in capsys.readouterr().err
    url = 'http://127.0.0.1:9/dfine_n_coco.pth'  # nothing listens there
    assert tool.main([image, '--model', DEMO_CONFIG, '--weights', url]) == 2
    assert 'download it and give --weights FILE' in capsys.readouterr().err
