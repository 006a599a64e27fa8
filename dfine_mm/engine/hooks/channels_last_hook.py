"""Run a detector's convolutions in channels-last memory format in
training."""

from typing import Any, List, Sequence, Tuple

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.hooks import RemovableHandle

from ...models.utils.inference import to_channels_last
from ...models.utils.memory_format import (
    capturing_graph,
    channels_first_copy,
    is_channels_last,
    to_memory_format,
)
from ...models.utils.module_hooks import format_only_hook
from .model_parts import model_parts


@format_only_hook  # the fast paths that skip the conv's call keep theirs
def _channels_last_input(module: nn.Module, args: Tuple) -> Tuple:
    """Forward pre-hook: the convolution's input in channels-last format
    (a no-op when it already is)."""
    x = args[0]
    if isinstance(x, Tensor) and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *args[1:])


def _to_channels_last(grad: Tensor) -> Tensor:
    """A tensor hook: the gradient, dense in channels-last format."""
    return grad.contiguous(memory_format=torch.channels_last)


#: the tensor hooks of channels-last and channels-first outputs (module
#: attributes, so that a test can wrap them)
_TO_CHANNELS_LAST = _to_channels_last
_TO_CONTIGUOUS = channels_first_copy


def _trains_on_cpu(x: Any) -> bool:
    """Whether ``x`` is a 4-D CPU tensor that gets a gradient (and the
    graph is not being traced, scripted or compiled: captured graphs
    choose their own layouts)."""
    return (
        isinstance(x, Tensor)
        and x.dim() == 4
        and x.device.type == 'cpu'
        and x.requires_grad
        and torch.is_grad_enabled()
        and not capturing_graph()
    )


def _grads_in_output_format(module: nn.Module, args: Tuple, output: Any):
    """Forward hook: each 4-D tensor output's gradient arrives dense in the
    output's own memory format.

    A gradient that is a channel slice of a larger one (what ``torch.cat``
    and ``split`` give their inputs in the backward pass), or a
    channels-first gradient of a channels-last tensor, sends PyTorch's CPU
    batch-norm backward down its strided path, an order of magnitude
    slower than on dense channels-last tensors. One copy of the gradient
    costs a fraction of that, and none is made when the gradient is
    already dense in that format. CPU tensors only: on CUDA the copies and
    tensor hooks made the step slower, as cuDNN's batch-norm backward has
    no such slow path (both measured in docs/benchmarks.md).
    """
    outputs = output if isinstance(output, (tuple, list)) else (output,)
    for tensor in outputs:
        if _trains_on_cpu(tensor):
            tensor.register_hook(
                _TO_CHANNELS_LAST
                if is_channels_last(tensor)
                else _TO_CONTIGUOUS
            )
    return output


#: batch norms with fewer channels than this compute channels-first in CPU
#: training: PyTorch's channels-last backward is about 25x slower for 8
#: channels (15.3 against 0.6 ms, (2, 8, 320, 320), docs/benchmarks.md),
#: where it vectorises over the channels
MIN_CHANNELS_LAST_NORM = 16


def _norm_input_channels_first(module: nn.Module, args: Tuple) -> Tuple:
    """Forward pre-hook of a narrow batch norm: its input channels-first
    (the gradient goes back channels-last)."""
    x = args[0]
    if _trains_on_cpu(x):
        x = to_memory_format(x, torch.contiguous_format)
    return (x, *args[1:])


def _norm_output_channels_last(module: nn.Module, args: Tuple, output: Any):
    """Forward hook of a narrow batch norm: its output back in
    channels-last format (the gradient goes in channels-first)."""
    if _trains_on_cpu(output):
        return to_memory_format(output, torch.channels_last)
    return output


def _fused_norms(part: nn.Module) -> set:
    """The ids of the batch norms that ``part``'s blocks run inside one
    autograd node with what follows them (HGNetV2's ``ConvBNAct``, see
    ``fuses_norm``): that node lays out the norm's output gradient itself,
    and a hook on the norm would send it back to the unfused path."""
    return {
        id(module.bn)
        for module in part.modules()
        if getattr(module, 'fuses_norm', False)
    }


def _on_cpu(modules: Sequence[nn.Module]) -> bool:
    """Whether any parameter of ``modules`` is on the CPU (True when they
    have none): the gradient hooks are only registered there, so a model
    on CUDA does not pay for a Python call per batch norm and step."""
    devices = {p.device.type for m in modules for p in m.parameters()}
    return not devices or 'cpu' in devices


@HOOKS.register_module()
class DFineChannelsLastHook(Hook):
    """Run the convolutions of the listed parts of the model (by default
    backbone and neck) in channels-last memory format (docs/benchmarks.md:
    faster convolutions on the CPU). Only the memory format changes, not a
    value.

    A model that runs in one process gets the parts' parameters in
    channels-last format; the convolutions follow their weights. A model in
    a wrapper (DistributedDataParallel and mmengine's other wrappers) keeps
    its parameters' format: DDP maps each parameter's gradient to its
    buckets by the parameter's strides when it wraps the model, which
    happens before any hook runs, and changing the parameters' format
    afterwards mixes up gradient elements (a two-process test compares the
    averaged gradients). There each ``nn.Conv2d`` of the parts is given its
    input in channels-last format instead (a forward pre-hook, removed
    after the run); a convolution then computes and returns channels-last
    tensors. Both ways run the same channels-last kernels forward; the
    single-process way is kept because its results are those of earlier
    releases (the demo's mAP).

    In both ways the gradients of the parts' outputs and of their batch
    norms' outputs are made dense in the tensors' own format before their
    backward pass (a tensor hook each; a channel slice of a gradient, what
    ``torch.cat`` gives back, is an order of magnitude slower in the CPU's
    channels-last batch-norm backward); the norms that HGNetV2's blocks run
    in one node with their activation (``fuses_norm``) get no hook, as the
    node does the same inside. Batch norms with fewer than
    ``MIN_CHANNELS_LAST_NORM`` channels (HGNetV2-B0's 8-channel stem norm)
    compute channels-first in training instead (their input and output
    change format around them, and so do the gradients): PyTorch's
    channels-last backward has no fast path for them. A model whose parts
    are not on the CPU gets none of these gradient hooks (on CUDA they made
    the step slower). The hooks are removed after the run.

    Runs before ``EMAHook`` copies the model (priority ``ABOVE_NORMAL``), so
    the EMA copy computes the same way.

    Args:
        parts (Sequence[str]): Attribute names of the model's parts.
            Defaults to ``('backbone', 'neck')``.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, parts: Sequence[str] = ('backbone', 'neck')) -> None:
        self.parts = tuple(parts)
        self._handles: List[RemovableHandle] = []

    def before_run(self, runner) -> None:
        model = runner.model
        wrapped = is_model_wrapper(model)
        if wrapped:
            model = model.module
        modules = model_parts(model, self.parts, 'DFineChannelsLastHook')
        parts = ', '.join(self.parts)
        if not wrapped:
            to_channels_last(model, self.parts)
        if self._handles:  # a second run (e.g. test after train)
            return
        convs = 0
        on_cpu = _on_cpu(modules)
        for part in modules:
            if on_cpu:
                self._handles.append(
                    part.register_forward_hook(_grads_in_output_format)
                )
            fused = _fused_norms(part)
            for module in part.modules():
                if on_cpu and isinstance(module, _BatchNorm):
                    narrow = module.num_features < MIN_CHANNELS_LAST_NORM
                    if narrow:
                        self._handles += [
                            module.register_forward_pre_hook(
                                _norm_input_channels_first
                            ),
                            module.register_forward_hook(
                                _norm_output_channels_last
                            ),
                        ]
                    if narrow or id(module) not in fused:
                        self._handles.append(
                            module.register_forward_hook(
                                _grads_in_output_format
                            )
                        )
                elif wrapped and isinstance(module, nn.Conv2d):
                    convs += 1
                    self._handles.append(
                        module.register_forward_pre_hook(_channels_last_input)
                    )
        if not wrapped:
            print_log(
                f'{parts} in channels-last memory format', logger='current'
            )
            return
        print_log(
            f'the {convs} convolutions of {parts} take channels-last inputs '
            '(the parameters keep their format: the model is wrapped)',
            logger='current',
        )

    def after_run(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
