"""DFineSanitizeBoxes, DFinePhotometricDistort, DFineBatchMultiScaleResize."""

import numpy as np
import pytest
import torch
from helpers import MMEngineLogRecords
from mmdet.registry import MODELS, TRANSFORMS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData


def results_with(boxes):
    return dict(
        img=np.zeros((100, 200, 3), np.uint8),
        img_shape=(100, 200),
        img_path='a.jpg',
        gt_bboxes=HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32)),
        gt_bboxes_labels=np.arange(len(boxes)),
        gt_ignore_flags=np.zeros(len(boxes), bool),
    )


def test_sanitize_clips_and_drops_with_a_count():
    sanitize = TRANSFORMS.build(dict(type='DFineSanitizeBoxes', min_size=1))
    with MMEngineLogRecords() as records:
        results = sanitize(
            results_with(
                [
                    [10, 10, 50, 50],  # kept
                    [-20, 5, 30, 40],  # clipped to x1 = 0
                    [150, 20, 400, 90],  # clipped to x2 = 200
                    [300, 10, 350, 20],  # outside the image
                    [5, 5, 5.5, 60],  # narrower than 1 px
                ]
            )
        )
    assert any(
        m.startswith('DFineSanitizeBoxes: 2 boxes dropped so far')
        and 'a.jpg' in m
        for m in records.messages
    ), records.messages
    boxes = results['gt_bboxes'].tensor
    assert boxes.tolist() == [
        [10, 10, 50, 50],
        [0, 5, 30, 40],
        [150, 20, 200, 90],
    ]
    assert results['gt_bboxes_labels'].tolist() == [0, 1, 2]
    assert len(results['gt_ignore_flags']) == 3
    assert sanitize.num_dropped == 2


def test_photometric_distort_keeps_shape_and_range():
    np.random.seed(0)
    distort = TRANSFORMS.build(dict(type='DFinePhotometricDistort', prob=1.0))
    img = np.random.randint(0, 255, (32, 48, 3)).astype(np.uint8)
    out = distort(dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out, img)
    same = TRANSFORMS.build(dict(type='DFinePhotometricDistort', prob=0.0))
    assert np.array_equal(same(dict(img=img.copy()))['img'], img)


def samples():
    sample = DetDataSample(
        metainfo=dict(img_shape=(640, 640), batch_input_shape=(640, 640))
    )
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[64.0, 128.0, 320.0, 640.0]]),
        labels=torch.tensor([1]),
    )
    return [sample]


def test_batch_multi_scale_resize_and_stop_epoch():
    resize = MODELS.build(
        dict(type='DFineBatchMultiScaleResize', scales=[320], stop_epoch=3)
    )
    hub = MessageHub.get_current_instance()
    before = hub.get_info('epoch')
    try:
        hub.update_info('epoch', 2)
        inputs, data = resize(torch.rand(2, 3, 640, 640), samples())
        assert inputs.shape == (2, 3, 320, 320)
        assert data[0].gt_instances.bboxes.tolist() == [[32, 64, 160, 320]]
        assert data[0].img_shape == (320, 320)
        hub.update_info('epoch', 3)
        inputs, data = resize(torch.rand(2, 3, 640, 640), samples())
        assert inputs.shape == (2, 3, 640, 640)
    finally:  # shared state: restored whatever the outcome
        hub.update_info('epoch', before if before is not None else 0)


def test_batch_multi_scale_scales_of_the_original():
    from dfine_mm.models.data_preprocessors import DFineBatchMultiScaleResize

    scales = DFineBatchMultiScaleResize.scales_from_base(640, 3)
    assert scales == [480, 512, 544, 576, 608, 640, 640, 640, 800, 768, 736,
                      704, 672]  # fmt: skip
    with pytest.raises(ValueError, match='divisible by 32'):
        DFineBatchMultiScaleResize(scales=[500])
    # the original's scalar form builds the same list
    resize = DFineBatchMultiScaleResize(base_size=640, base_size_repeat=3)
    assert resize.scales == scales
    for kwargs, word in (
        (dict(), 'neither'),
        (dict(scales=[640], base_size=640), 'both'),
    ):
        with pytest.raises(ValueError, match=word):
            DFineBatchMultiScaleResize(**kwargs)  # fmt: skip


@pytest.mark.parametrize('name', ['missing.jpg', 'corrupt.jpg'])
def test_bad_images_are_named_or_skipped_with_a_log(tmp_path, name):
    (tmp_path / 'corrupt.jpg').write_bytes(b'not a jpeg')
    path = str(tmp_path / name)
    load = TRANSFORMS.build(dict(type='DFineLoadImageFromFile'))
    with pytest.raises(OSError, match=name):
        load(dict(img_path=path))
    skip = TRANSFORMS.build(
        dict(type='DFineLoadImageFromFile', on_error='skip')
    )
    assert skip(dict(img_path=path)) is None
    assert skip.num_skipped == 1
