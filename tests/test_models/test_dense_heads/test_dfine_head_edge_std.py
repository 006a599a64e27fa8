"""DFineHead.predict: every detection carries ``edge_std`` (n, 4), the
standard deviation of its edges in pixels of the original image; plain
box regression (``fdr=False``) has none."""

import torch
from helpers import det_samples
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from dfine_mm.converters.dfine import variant_config_path
from dfine_mm.models.utils import edge_std, weighting_function

SIZE = 128


def build(**model):
    register_all_modules()
    cfg = Config.fromfile(variant_config_path('n'))
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = 5
    cfg.model.num_queries = 20
    cfg.model.test_cfg.max_per_img = 20
    cfg.model.update(model)
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    for param in detector.bbox_head.reg_branches.parameters():
        param.data.normal_(0, 0.05)  # distributions that are not flat
    return detector.eval()


def samples(scale=2.0):
    batch = det_samples([1, 1], SIZE, SIZE)
    for sample in batch:
        sample.set_metainfo(
            dict(scale_factor=(scale, scale), ori_shape=(64, 64))
        )
    return batch


def test_edge_std_in_original_pixels():
    model = build()
    images = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        results = model.predict(images, samples(), rescale=True)
        unscaled = model.predict(images, samples(), rescale=False)
        # by hand: the evaluated layer's distributions and boxes
        feats = model.extract_feat(images)
        out = model.forward_transformer(feats, samples())
        scores = model.bbox_head(out['hidden_states'], out['references'],
                                 out['corners'])[0][-1]  # fmt: skip
    project = weighting_function(32, model.decoder.up, model.decoder.reg_scale)
    std = edge_std(out['corners'][-1], out['references'][-1], project,
                   model.decoder.reg_scale)  # fmt: skip
    for image, result in enumerate(results):
        pred = result.pred_instances
        assert pred.edge_std.shape == (20, 4)
        assert (pred.edge_std >= 0).all() and pred.edge_std.max() > 0
        query = scores[image].sigmoid().flatten().topk(20).indices // 5
        expected = std[image, query] * SIZE  # input pixels
        got = unscaled[image].pred_instances.edge_std
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(pred.edge_std, expected / 2.0)


def test_no_edge_std_without_distributions():
    head = dict(loss_fgl=None, loss_ddf=None, union_matching=False)
    model = build(fdr=False, bbox_head=head)
    with torch.no_grad():
        results = model.predict(torch.rand(2, 3, SIZE, SIZE), samples())
    assert 'edge_std' not in results[0].pred_instances
