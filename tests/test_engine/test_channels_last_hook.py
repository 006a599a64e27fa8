"""DFineChannelsLastHook: the batch norms' backward on dense gradients."""

import copy
from types import SimpleNamespace
from typing import List, Tuple

import pytest
import torch
from helpers import NormGradFormats
from torch import Tensor, nn

from dfine_mm.engine.hooks import DFineChannelsLastHook
from dfine_mm.models.layers.conv_bn_act import ConvBNAct


def conv_bn(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
    )


class Neck(nn.Module):
    """Two conv + norm branches concatenated and split again, as the
    hybrid encoder's blocks do: each norm's gradient is a channel slice."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.right = conv_bn(8, 8), conv_bn(8, 8)
        self.fuse = conv_bn(16, 16)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        joined = torch.cat([self.left(x), torch.relu(self.right(x))], 1)
        fused = self.fuse(joined)
        return joined, fused


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = conv_bn(3, 8)
        self.neck = Neck()

    def loss(self, images: Tensor) -> Tensor:
        joined, fused = self.neck(self.backbone(images))
        # a transposed, channels-first consumer, as the decoder's values
        values = fused.reshape(2, 4, -1).transpose(1, 2)
        return (joined[:, :4] ** 2).sum() + (values**3).mean()


def step(model: nn.Module, images: Tensor) -> Tuple[List[bool], dict]:
    model.zero_grad(set_to_none=True)
    with NormGradFormats() as formats:
        model.loss(images).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return formats.dense, grads


@pytest.fixture
def toy_and_images():
    """In float64: the batch norms' gradients nearly cancel, so float32
    rounding (which the memory format changes) would hide a wrong
    gradient."""
    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    return Toy().train().double(), images


def test_norms_get_dense_channels_last_gradients(toy_and_images):
    """With the hook every batch-norm backward runs on a dense
    channels-last gradient, and the gradients are those of the plain
    model; converting the parameters alone leaves sliced and
    channels-first gradients."""
    from dfine_mm.models.utils.inference import to_channels_last

    toy, images = toy_and_images
    _, expected = step(copy.deepcopy(toy), images)
    converted = to_channels_last(copy.deepcopy(toy))
    dense, grads = step(converted, images)
    assert not all(dense)  # the case the hook is for
    hooked = copy.deepcopy(toy)
    hook = DFineChannelsLastHook()
    hook.before_run(SimpleNamespace(model=hooked))
    dense, grads = step(hooked, images)
    assert len(dense) == 4 and all(dense)
    for name, grad in expected.items():
        scale = grad.abs().max()
        assert (grads[name] - grad).abs().max() <= 1e-9 * scale, name
    hook.after_run(SimpleNamespace(model=hooked))
    assert not any(m._forward_hooks for m in hooked.modules())
    dense, _ = step(hooked, images)
    assert not all(dense)


def test_a_wrapped_model_gets_the_gradient_hooks_too(toy_and_images):
    """The wrapped way (parameters keep their format, convolutions get
    channels-last inputs) also gives its norms dense gradients; a second
    run adds no second set of hooks."""
    from mmengine.model import MMDistributedDataParallel
    from mmengine.model.wrappers import is_model_wrapper

    toy, images = toy_and_images

    class Wrapped(MMDistributedDataParallel):
        def __init__(self, module: nn.Module) -> None:  # no process group
            nn.Module.__init__(self)
            self.module = module

    wrapped = Wrapped(toy)
    assert is_model_wrapper(wrapped)
    hook = DFineChannelsLastHook()
    hook.before_run(SimpleNamespace(model=wrapped))
    count = len(hook._handles)
    hook.before_run(SimpleNamespace(model=wrapped))
    # parts, norms, the three 8-channel norms' format changes, convs
    assert len(hook._handles) == count == 2 + 4 + 3 * 2 + 4
    assert toy.neck.fuse[0].weight.is_contiguous()  # format kept
    dense, _ = step(toy, images)
    assert len(dense) == 4 and all(dense)


def test_compiled_parts_train_with_the_hook(toy_and_images, monkeypatch):
    """With the hook and the neck compiled (``DFineCompileHook``'s way)
    the step's gradients are the plain model's, and the gradient hooks
    step aside inside the compiled neck (its graphs stay as measured):
    only the eager backbone's 8-channel gradients pass through them."""
    from dfine_mm.engine.hooks import channels_last_hook

    toy, images = toy_and_images
    _, expected = step(copy.deepcopy(toy), images)
    hooked = []  # a hook traced by dynamo would fail on this side effect
    for name in ('_TO_CHANNELS_LAST', '_TO_CONTIGUOUS'):
        to_format = getattr(channels_last_hook, name)
        monkeypatch.setattr(
            channels_last_hook, name,
            lambda g, f=to_format: hooked.append(g.shape[1]) or f(g),
        )  # fmt: skip
    hook = DFineChannelsLastHook()
    hook.before_run(SimpleNamespace(model=toy))
    toy.neck.compile(backend='aot_eager', fullgraph=True)
    toy.zero_grad(set_to_none=True)
    toy.loss(images).backward()
    assert hooked and set(hooked) == {8}  # the backbone's, not the neck's
    for name, param in toy.named_parameters():
        scale = expected[name].abs().max()
        assert (param.grad - expected[name]).abs().max() <= 1e-9 * scale


@pytest.mark.parametrize('device, hooked', [('cpu', True), ('meta', False)])
def test_gradient_hooks_only_on_cpu_tensors(device, hooked):
    """On CUDA the copies made the step slower (docs/benchmarks.md): the
    hook leaves tensors that are not on the CPU alone (``meta`` stands in
    for CUDA here)."""
    from dfine_mm.engine.hooks.channels_last_hook import (
        _grads_in_output_format,
    )

    output = torch.zeros(2, 4, 3, 3, device=device, requires_grad=True)
    _grads_in_output_format(nn.Identity(), (output,), output)
    assert bool(output._backward_hooks) is hooked


def test_a_model_off_the_cpu_gets_no_gradient_hooks():
    """A model on another device (``meta`` stands in for CUDA) gets no
    forward hook per batch norm (a Python call each in every step for
    nothing); its parameters still go channels-last."""
    toy = Toy().to('meta')
    hook = DFineChannelsLastHook()
    hook.before_run(SimpleNamespace(model=toy))
    assert hook._handles == []
    assert not any(m._forward_hooks for m in toy.modules())
    weight = toy.neck.fuse[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()


@pytest.mark.parametrize(
    'fmt, other',
    [
        (torch.channels_last, torch.contiguous_format),
        (torch.contiguous_format, torch.channels_last),
    ],
)
def test_gradients_arrive_dense_in_the_outputs_format(fmt, other):
    """A gradient that comes back in the other format is made dense in
    the output's own (a channels-first map large enough to be copied in
    bands of rows, ``channels_first_copy``), with the same values."""
    from dfine_mm.engine.hooks.channels_last_hook import (
        _grads_in_output_format,
    )

    x = torch.randn(2, 64, 128, 128, requires_grad=True)
    output = (x * 2).contiguous(memory_format=fmt)
    _grads_in_output_format(nn.Identity(), (x,), output)
    seen = []
    output.register_hook(seen.append)  # runs after the format hook
    weight = torch.randn(x.shape).contiguous(memory_format=other)
    (output.contiguous(memory_format=other) * weight).sum().backward()
    (grad,) = seen
    assert grad.is_contiguous(memory_format=fmt)
    assert torch.equal(grad, weight)


def test_traced_graphs_get_no_gradient_hooks():
    """Traced (and scripted or compiled) graphs keep their own layouts:
    the hook registers no tensor hook there."""
    from dfine_mm.engine.hooks.channels_last_hook import (
        _grads_in_output_format,
    )

    hooked = []

    def forward(x: Tensor) -> Tensor:
        output = x * 2
        _grads_in_output_format(nn.Identity(), (x,), output)
        hooked.append(bool(output._backward_hooks))
        return output

    x = torch.zeros(1, 2, 3, 3, requires_grad=True)
    forward(x)
    torch.jit.trace(forward, x, check_trace=False)
    assert hooked == [True, False]


class LabBackbone(nn.Module):
    """HGNetV2 blocks whose norms run inside one node with their ReLU and
    affine block, and an 8-channel one that the hook makes compute
    channels-first; their outputs concatenated (sliced gradients)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, 16, 3, use_lab=True)
        self.narrow = ConvBNAct(16, 8, 1, use_lab=True)
        self.wide = ConvBNAct(16, 16, 3, use_lab=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        return torch.cat([self.narrow(x), self.wide(x)], 1)


class LabToy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = LabBackbone()

    def loss(self, images: Tensor) -> Tensor:
        out = self.backbone(images)
        return (out[:, 4:] ** 2).sum() + out.reshape(2, 24, -1).mean(1).sum()


def test_norms_fused_with_their_activation_get_no_gradient_hook():
    """The fused norms get no hook (their node lays out the gradient); the
    narrow one keeps its hooks and the module path; every norm's backward
    still runs on dense gradients, with the plain model's gradients."""
    torch.manual_seed(0)
    toy = LabToy().train().double()
    with torch.no_grad():  # affine blocks away from their identity start
        for block in toy.backbone.children():
            block.lab.scale.fill_(0.8)
            block.lab.bias.fill_(0.1)
    images = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    _, expected = step(copy.deepcopy(toy), images)
    hook = DFineChannelsLastHook(parts=('backbone',))
    hook.before_run(SimpleNamespace(model=toy))
    stem, narrow, wide = toy.backbone.children()
    assert stem.fuses_norm and narrow.fuses_norm and wide.fuses_norm
    assert not stem.bn._forward_hooks and not wide.bn._forward_hooks
    assert len(narrow.bn._forward_hooks) == 2
    assert len(narrow.bn._forward_pre_hooks) == 1
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    kinds = [type(b(b_in).grad_fn).__name__ for b, b_in in
             ((stem, x), (wide, stem(x)))]  # fmt: skip
    assert kinds == ['_NormReLUAffineBackward'] * 2
    dense, grads = step(toy, images)
    assert len(dense) == 3 and all(dense)
    for name, grad in expected.items():
        scale = grad.abs().max()
        assert (grads[name] - grad).abs().max() <= 1e-9 * scale, name
