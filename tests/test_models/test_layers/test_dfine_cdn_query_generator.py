import torch
from mmdet.models.layers.transformer.utils import inverse_sigmoid
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData

from dfine_mm.models.layers import DFineCdnQueryGenerator
from dfine_mm.models.utils.go_lsd import dn_positive_pairs


def _sample(num_boxes, size=(100, 200)):
    sample = DetDataSample(metainfo=dict(img_shape=size))
    xy = torch.rand(num_boxes, 2) * 80
    sample.gt_instances = InstanceData(
        bboxes=torch.cat([xy, xy + 10 + torch.rand(num_boxes, 2) * 10], 1),
        labels=torch.randint(0, 5, (num_boxes,)),
    )
    return sample


def _generator(**kwargs):
    return DFineCdnQueryGenerator(
        num_classes=5, embed_dims=16, num_matching_queries=10, **kwargs
    )


def test_group_sizes_and_outputs():
    torch.manual_seed(0)
    gen = _generator(num_denoising=100)
    label_q, box_q, mask, meta = gen([_sample(3), _sample(1)])
    # g = 3 -> 33 groups of 6 queries
    assert meta['num_denoising_groups'] == 33
    assert meta['num_denoising_queries'] == 198
    assert label_q.shape == (2, 198, 16) and box_q.shape == (2, 198, 4)
    assert mask.shape == (208, 208)
    # positives: first g slots of each group, real boxes only
    targets = [dict(labels=torch.zeros(3)), dict(labels=torch.zeros(1))]
    pairs = dn_positive_pairs(meta, targets)
    assert pairs[0][0].tolist() == [
        g * 6 + t for g in range(33) for t in range(3)
    ]
    assert pairs[0][1].tolist() == [0, 1, 2] * 33
    assert pairs[1][0].tolist() == [g * 6 for g in range(33)]
    # padded slots of image 1 carry the zero pad embedding
    assert torch.all(label_q[1, 1:3] == 0)


def test_attention_mask():
    gen = _generator(num_denoising=4)
    _, _, mask, meta = gen([_sample(2)])
    # g = 2: num_denoising 4 // 2 = 2 groups of 4 queries
    assert meta['num_denoising_groups'] == 2
    dn = meta['num_denoising_queries']
    assert dn == 8
    # matching queries never see denoising ones, do see each other
    assert mask[dn:, :dn].all() and not mask[dn:, dn:].any()
    # groups see themselves and the matching queries only
    assert not mask[:4, :4].any() and mask[:4, 4:8].all()
    assert mask[4:8, :4].all() and not mask[4:8, 4:8].any()
    assert not mask[:dn, dn:].any()


def test_noise_magnitudes():
    torch.manual_seed(0)
    gen = _generator(num_denoising=200, label_noise_ratio=0.0)
    sample = _sample(1, size=(100, 100))
    sample.gt_instances.bboxes = torch.tensor([[40.0, 40.0, 60.0, 60.0]])
    _, box_q, _, meta = gen([sample])
    boxes = box_q.sigmoid()[0]  # (D, 4) cxcywh
    gt = torch.tensor([0.4, 0.4, 0.6, 0.6])
    shift = (bbox_cxcywh_to_xyxy(boxes) - gt).abs()
    positive = shift[0::2].max(-1).values
    negative = shift[1::2].min(-1).values
    assert positive.max() <= 0.1 + 1e-4  # < one half-size (0.1)
    # negatives move every edge by one to two half-sizes; boxes whose
    # edges cross are flipped back (abs of the size) as in the original
    assert (negative >= 0.1 - 1e-4).float().mean() > 0.5


def test_label_noise_rate_and_no_gt():
    torch.manual_seed(0)
    gen = _generator(num_denoising=1000, box_noise_scale=0.0)
    sample = _sample(1)
    sample.gt_instances.labels = torch.tensor([2])
    label_q, _, _, _ = gen([sample])
    flipped = (label_q[0] != gen.label_embedding.weight[2]).any(-1)
    # label_noise_ratio / 2 = 0.25, minus the flips that drew class 2 again
    assert 0.15 < flipped.float().mean() < 0.26
    assert gen([_sample(0), _sample(0)]) is None
    assert _generator(num_denoising=0)([sample]) is None


def test_positive_pairs_hold_their_ground_truth():
    """Without noise, the query dn_positive_pairs pairs with ground truth j
    carries exactly box j and label j."""
    torch.manual_seed(0)
    gen = _generator(num_denoising=12, label_noise_ratio=0.0,
                     box_noise_scale=0.0)  # fmt: skip
    batch = [_sample(3), _sample(2)]
    label_q, box_q, _, meta = gen(batch)
    targets = [dict(labels=s.gt_instances.labels) for s in batch]
    for image, (query, gt) in enumerate(dn_positive_pairs(meta, targets)):
        sample = batch[image]
        h, w = sample.metainfo['img_shape']
        scale = torch.tensor([w, h, w, h])
        boxes = bbox_cxcywh_to_xyxy(box_q[image, query].sigmoid()) * scale
        torch.testing.assert_close(
            boxes, sample.gt_instances.bboxes[gt], rtol=0, atol=1e-3
        )
        embedding = gen.label_embedding(sample.gt_instances.labels[gt])
        torch.testing.assert_close(label_q[image, query], embedding)


def test_without_noise_nothing_is_drawn():
    # what lets a CUDA step be compared with a CPU one
    # (test_step_gradients.py): no random stream is read
    gen = _generator(num_denoising=20, label_noise_ratio=0.0)
    gen.box_noise_scale = 0.0
    samples = [_sample(3), _sample(2)]
    state = torch.random.get_rng_state()
    label_q, box_q, _, meta = gen(samples)
    assert torch.equal(torch.random.get_rng_state(), state)
    # every query holds its ground truth, negatives too
    groups = meta['num_denoising_groups']
    boxes = samples[0].gt_instances.bboxes / torch.tensor([200, 100] * 2)
    expected = inverse_sigmoid(bbox_xyxy_to_cxcywh(boxes))
    torch.testing.assert_close(box_q[0], expected.repeat(2 * groups, 1))
