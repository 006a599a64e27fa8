"""Make tests/data/step_gradients/dfine_n.json: the loss and every
parameter's gradient norm of one D-FINE-N training step, to pin a step's
gradients across changes of the loss code (matching, target gathering).

Usage, from the repository root, on the code the fixture pins::

    python tests/data/step_gradients/make_step_gradients.py

The step (:func:`step_gradients`, which the test runs on today's code):
D-FINE-N with well-conditioned random weights (``conditioned_state_dict``,
its BatchNorm statistics computed in fp64), 5 classes, train mode with
every BatchNorm in eval mode, denoising on with torch seeded, 2 synthetic
320x320 images with 6 and 3 random boxes, all in fp64. The test also runs
it in channels-last format against the pin, and on a CUDA device, without
the denoising noise, against the same step on the CPU.

History: first made at commit ec13640 (before the batched matching, which
kept every value within 1e-6) in fp32. Re-made on 2026-12-04 when the FPN
fusion's first 1x1 convolution was split by input (another summation
order: 17 of the 428 gradient norms moved by more than 1e-6, at most
2.0e-5). Re-made on 2026-12-05 in fp64, again from the ec13640 code (its
checkout with today's ``conditioned_weights.py``, which adds the fp64
calibration), because the fp32 pin failed on another CPU: on a 2-core
Intel Xeon VM the unchanged code gave d0.loss_ddf 1.0e-5 relative off the
pin made on an AMD EPYC VM, and fp32 kernels round differently from CPU to
CPU. In fp64 today's code agrees with ec13640's to 1.2e-13 relative (one
thread) and to 2.1e-13 with two threads against one; in fp64 with the
statistics calibrated in fp32, two threads against one had moved gradient
norms by up to 9.6e-3 (learnable-affine scalars of the backbone, sums over
whole maps, amplify the calibration's fp32 rounding).
"""

import json
import os.path as osp
import sys

import torch

HERE = osp.dirname(osp.abspath(__file__))


def step_gradients(
    dtype: torch.dtype = torch.float64,
    device: str = 'cpu',
    noise: bool = True,
    channels_last: bool = False,
    with_model: bool = False,
):
    """(loss terms, {parameter: gradient L2 norm}) of the step, computed in
    ``dtype`` on ``device``.

    ``noise=False`` sets the denoising's label and box noise to zero, so
    that the step draws no random numbers: its result does not depend on
    the device's random stream (a CUDA step against a CPU one).
    ``channels_last=True`` applies ``DFineChannelsLastHook`` as a training
    run does (backbone and neck in channels-last format). ``with_model``
    adds the model, after the step, as a third item."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from dfine_mm.converters.dfine import build_variant_model
    from dfine_mm.testing import conditioned_state_dict, synthetic_images

    torch.manual_seed(0)
    model = build_variant_model('n', num_classes=5).to(dtype)
    state = conditioned_state_dict('n', num_classes=5, dtype=dtype)
    model.load_state_dict(state, strict=True)
    model = model.to(device)
    if not noise:
        model.dn_query_generator.label_noise_ratio = 0.0
        model.dn_query_generator.box_noise_scale = 0.0
    if channels_last:
        from types import SimpleNamespace

        from dfine_mm.engine.hooks import DFineChannelsLastHook

        DFineChannelsLastHook().before_run(SimpleNamespace(model=model))
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    images = synthetic_images(320, 320, 2).to(device, dtype)
    gen = torch.Generator().manual_seed(1)
    samples = []
    for count in (6, 3):
        xy = torch.rand(count, 2, generator=gen) * 240
        wh = torch.rand(count, 2, generator=gen) * 70 + 8
        sample = DetDataSample(metainfo=dict(
            img_shape=(320, 320), ori_shape=(320, 320),
            pad_shape=(320, 320), batch_input_shape=(320, 320)))  # fmt: skip
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1).to(device, dtype),
            labels=torch.randint(5, (count,), generator=gen).to(device),
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
    losses = {k: float(v) for k, v in losses.items()}
    return (losses, norms, model) if with_model else (losses, norms)


def main():
    torch.set_num_threads(1)
    losses, norms = step_gradients()
    with open(osp.join(HERE, 'dfine_n.json'), 'w') as file:
        json.dump(dict(losses=losses, grad_norms=norms), file, indent=0)
    print(len(losses), 'loss terms,', len(norms), 'gradients')


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(HERE))))
    main()
