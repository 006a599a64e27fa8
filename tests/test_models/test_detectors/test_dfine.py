"""D-FINE detector: tensor mode, predict, mmdet inference APIs, bad input."""

import numpy as np
import pytest
import torch
from mmengine.config import Config

from dfine_mm.converters.dfine import build_variant_model, variant_config_path


@pytest.fixture(scope='module')
def model_n():
    torch.manual_seed(0)
    model = build_variant_model('n')
    model.init_weights()
    return model.eval()


def test_tensor_mode_shapes(model_n):
    with torch.no_grad():
        logits, boxes = model_n(torch.rand(2, 3, 256, 320), None, 'tensor')
    # the last entry along the layer axis is the evaluated layer
    assert logits.shape == (1, 2, 300, 80) and boxes.shape == (1, 2, 300, 4)
    assert boxes.min() >= 0 and boxes.max() <= 1


@pytest.mark.parametrize('size', [(320, 320), (224, 416), (800, 480)])
def test_any_size_divisible_by_32(model_n, size):
    with torch.no_grad():
        logits, _ = model_n(torch.rand(1, 3, *size), None, 'tensor')
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    'shape, message',
    [((1, 1, 320, 320), '3, H, W'), ((1, 3, 320, 330), 'divisible by 32')],
)
def test_bad_input(model_n, shape, message):
    with pytest.raises(ValueError, match=message):
        model_n(torch.rand(*shape), None, 'tensor')


def test_predict_rescales_to_the_original_image(model_n):
    from mmdet.structures import DetDataSample

    sample = DetDataSample(
        metainfo=dict(
            img_shape=(320, 320), ori_shape=(160, 640), scale_factor=(0.5, 2)
        )
    )
    with torch.no_grad():
        (result,) = model_n(torch.rand(1, 3, 320, 320), [sample], 'predict')
    pred = result.pred_instances
    assert pred.bboxes.shape == (300, 4) and pred.scores.shape == (300,)
    assert torch.all(pred.scores[:-1] >= pred.scores[1:])  # top-k order
    assert (
        pred.bboxes[:, 0::2].max() <= 640 and pred.bboxes[:, 1::2].max() <= 160
    )


def test_mmdet_inference_apis(model_n, tmp_path):
    from mmdet.apis import DetInferencer, inference_detector, init_detector

    ckpt = str(tmp_path / 'n.pth')
    torch.save({'state_dict': model_n.state_dict(), 'meta': {}}, ckpt)
    cfg = Config.fromfile(variant_config_path('n'))
    image = (np.random.default_rng(0).random((200, 300, 3)) * 255).astype(
        np.uint8
    )
    detector = init_detector(cfg, ckpt, device='cpu')
    result = inference_detector(detector, image)
    assert result.pred_instances.bboxes.shape == (300, 4)
    # boxes are in the original 200x300 image
    assert result.pred_instances.bboxes[:, 0::2].max() <= 300
    inferencer = DetInferencer(
        model=variant_config_path('n'), weights=ckpt, device='cpu',
        show_progress=False,
    )  # fmt: skip
    out = inferencer(image, return_datasamples=True)
    scores = out['predictions'][0].pred_instances.scores
    torch.testing.assert_close(scores, result.pred_instances.scores)
