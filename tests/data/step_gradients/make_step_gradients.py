"""Make tests/data/step_gradients/dfine_n.json: the loss and every
parameter's gradient norm of one D-FINE-N training step, to pin a step's
gradients across changes of the loss code (matching, target gathering).

Usage, from the repository root, on the code the fixture pins::

    python tests/data/step_gradients/make_step_gradients.py

The step (:func:`step_gradients`, which the test runs on today's code):
D-FINE-N with well-conditioned random weights (``conditioned_state_dict``),
5 classes, train mode with every BatchNorm in eval mode, denoising on with
torch seeded, 2 synthetic 320x320 images with 6 and 3 random boxes.

History: made at commit ec13640 (before the batched matching, which kept
every value within 1e-6). Re-made on 2026-12-04 when the FPN fusion's first
1x1 convolution was split by input (``RepNCSPELAN4.forward`` with two maps:
the same function, another summation order): against the ec13640 file, all
37 loss terms identical, 218 of the 428 gradient norms identical, 17 moved
by more than 1e-6 relative, at most 2.0e-5 (learnable-affine scalars of the
backbone, sums over whole maps); the ec13640 code itself with two threads
instead of one moves 176 of them by up to 2.2e-3 and the losses by up to
1.7e-5.
"""

import json
import os.path as osp
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))


def step_gradients():
    """(loss terms, {parameter: gradient L2 norm}) of the step."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from dfine_mm.converters.dfine import build_variant_model
    from dfine_mm.testing import conditioned_state_dict, synthetic_images

    torch.manual_seed(0)
    model = build_variant_model('n', num_classes=5)
    state = conditioned_state_dict('n', num_classes=5)
    model.load_state_dict(state, strict=True)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    images = synthetic_images(320, 320, 2)
    gen = torch.Generator().manual_seed(1)
    samples = []
    for count in (6, 3):
        xy = torch.rand(count, 2, generator=gen) * 240
        wh = torch.rand(count, 2, generator=gen) * 70 + 8
        sample = DetDataSample(metainfo=dict(
            img_shape=(320, 320), ori_shape=(320, 320),
            pad_shape=(320, 320), batch_input_shape=(320, 320)))  # fmt: skip
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(5, (count,), generator=gen),
        )
        samples.append(sample)
    torch.manual_seed(2)  # the denoising queries' draws
    losses = model.loss(images, samples)
    sum(losses.values()).backward()
    norms = {
        name: float(param.grad.double().norm())
        for name, param in model.named_parameters()
        if param.grad is not None
    }
    return {k: float(v) for k, v in losses.items()}, norms


def main():
    torch.set_num_threads(1)
    losses, norms = step_gradients()
    with open(osp.join(HERE, 'dfine_n.json'), 'w') as file:
        json.dump(dict(losses=losses, grad_norms=norms), file, indent=0)
    print(len(losses), 'loss terms,', len(norms), 'gradients')


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(HERE))))
    main()
