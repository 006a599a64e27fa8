"""fp16 precision of a TensorRT fp16 engine, emulated in PyTorch on the CPU.

:class:`Fp16Emulation` is a ``TorchDispatchMode``: every aten op computes
in fp32 and every floating-point output is rounded to fp16 and back
(``t.to(torch.float16).to(torch.float32)``), so values beyond 65504 become
inf exactly as in fp16 storage; inside the modules kept in fp32 (TensorRT's
fp32 layers) nothing is rounded and their outputs are rounded when they
leave the outermost kept module (the fp16 layers that consume them read
fp16). This is fp16 *storage* with fp32 arithmetic, which is what TensorRT
does for convolutions and GEMMs (fp32 accumulation); element-wise kernels
that really compute in fp16 can lose slightly more, while TensorRT's fused
kernels (e.g. convolution + bias + activation) round once where this rounds
after every op. Layer norms outside the kept modules are decomposed into
their element-wise steps (mean, centring, square, variance, rsqrt, scale,
shift), each rounded to fp16, so that a square beyond 65504 overflows as
in an fp16 normalization; the reductions still accumulate in fp32.

:func:`prepare_fp16_model` makes the model such an engine runs: a deep copy
with every Conv + BatchNorm pair folded into one convolution (the ONNX
export folds them too) and the parameters and buffers outside the kept
modules rounded to fp16.
"""

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from .selection_recorder import SELECTION_OPS
from .tensorrt.builder import FP32_LAYER_TYPES

#: PyTorch module types exported as the TensorRT layer types that the
#: TensorRT fp16 configs keep in fp32 (``nn.LayerNorm`` exports as ONNX
#: ``LayerNormalization``, a TensorRT NORMALIZATION layer; the BatchNorms
#: of deploy mode are folded into their convolutions by the export)
TORCH_TYPES = {'NORMALIZATION': ('LayerNorm',)}
DEFAULT_FP32_TYPES: Tuple[str, ...] = tuple(
    name for kind in FP32_LAYER_TYPES for name in TORCH_TYPES[kind]
)
FP16_MAX = 65504.0


def round_fp16(value: Tensor) -> Tensor:
    """``value`` rounded to the nearest fp16 value (same dtype and shape;
    beyond +-65504 it becomes +-inf). Integer, bool and half-precision
    tensors are returned unchanged."""
    if not value.is_floating_point() or value.element_size() <= 2:
        return value
    return value.to(torch.float16).to(value.dtype)


def _round_any(value: Any) -> Any:
    return round_fp16(value) if isinstance(value, Tensor) else value


def type_names(module: nn.Module) -> List[str]:
    """Class names of ``module``'s type and its bases."""
    return [cls.__name__ for cls in type(module).__mro__]


def model_type_names(model: nn.Module) -> List[str]:
    """Sorted class names of the modules in ``model``."""
    return sorted({type(m).__name__ for m in model.modules()})


def kept_module_names(
    model: nn.Module, fp32_types: Sequence[str]
) -> List[str]:
    """Names of the modules of ``fp32_types`` (class or base class name).

    Raises:
        ValueError: A type with no module in ``model``; the message lists
            the module types that exist.
    """
    kept, found = [], set()
    for name, module in model.named_modules():
        hits = set(type_names(module)) & set(fp32_types)
        if hits:
            kept.append(name)
            found |= hits
    missing = [t for t in fp32_types if t not in found]
    if missing:
        raise ValueError(
            f'no module of type {", ".join(missing)} in the model; its '
            f'module types are: {", ".join(model_type_names(model))}'
        )
    return kept


def fold_batch_norms(model: nn.Module) -> Tuple[int, int]:
    """Fold every eval-mode BatchNorm that directly follows a convolution in
    an ``nn.Sequential`` into that convolution (in place; the BatchNorm
    becomes ``nn.Identity``), as the ONNX export does.

    Returns:
        tuple[int, int]: BatchNorms folded, BatchNorms left.
    """
    folded = 0
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = parent._modules[first], parent._modules[second]
            if not (
                isinstance(conv, nn.modules.conv._ConvNd)
                and isinstance(norm, nn.modules.batchnorm._BatchNorm)
                and not norm.training
                and norm.track_running_stats
            ):
                continue
            _fold(conv, norm)
            parent._modules[second] = nn.Identity()
            folded += 1
    left = sum(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()
    )
    return folded, left


@torch.no_grad()
def _fold(conv: nn.Module, norm: nn.Module) -> None:
    scale = norm.running_var.add(norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    # (C_out, C_in / groups, *kernel) or (C_in, C_out / groups, *kernel)
    axis = 1 if isinstance(conv, nn.modules.conv._ConvTransposeNd) else 0
    shape = [1] * conv.weight.dim()
    shape[axis] = -1
    conv.weight.mul_(scale.reshape(shape))
    conv.bias = nn.Parameter(shift)


@torch.no_grad()
def prepare_fp16_model(
    model: nn.Module, fp32_types: Sequence[str]
) -> Tuple[nn.Module, List[str], Tuple[int, int]]:
    """The model of an fp16 engine that keeps ``fp32_types`` in fp32.

    Args:
        model (nn.Module): The deploy-mode model (left unchanged).
        fp32_types (Sequence[str]): Module class names kept in fp32.

    Returns:
        tuple: The deep copy (Conv + BN folded, parameters and buffers
        outside the kept modules rounded to fp16), the kept modules' names
        and (BatchNorms folded, BatchNorms left).
    """
    fp16_model = copy.deepcopy(model).eval()
    batch_norms = fold_batch_norms(fp16_model)
    kept = kept_module_names(fp16_model, fp32_types)
    for name, module in fp16_model.named_modules():
        if any(name == k or name.startswith(k + '.') for k in kept):
            continue
        for tensor in [
            *module._parameters.values(),
            *module._buffers.values(),
        ]:
            if tensor is not None:
                tensor.copy_(round_fp16(tensor))
    return fp16_model, kept, batch_norms


def _layer_norm(
    x: Tensor,
    shape: Sequence[int],
    weight: Tensor,
    bias: Tensor,
    eps: float,
) -> Tuple[Tensor, Tensor, Tensor]:
    """``aten.native_layer_norm`` with every element-wise step rounded to
    fp16: (out (*, *shape), mean and rstd (*, 1, ..., 1))."""
    r = round_fp16
    dims = tuple(range(x.dim() - len(shape), x.dim()))
    mean = r(x.mean(dims, keepdim=True))
    centred = r(x - mean)
    var = r(r(centred * centred).mean(dims, keepdim=True))
    rstd = r(torch.rsqrt(r(var + eps)))
    out = r(centred * rstd)
    if weight is not None:
        out = r(out * weight)
    if bias is not None:
        out = r(out + bias)
    return out, mean, rstd


def _selection_dim(func: Any, args: Tuple, kwargs: Dict) -> int:
    values = dict(zip((a.name for a in func._schema.arguments), args))
    values.update(kwargs)
    return values.get('dim', -1)


class Fp16Emulation(TorchDispatchMode):
    """Round every aten op's floating-point outputs to fp16, except inside
    the modules named ``kept`` of ``model`` (see the module docstring).

    Use it as a context manager around the forward pass; the hooks that
    track the kept modules live while it is active. Set ``paused`` to run
    ops (e.g. statistics in hooks) unrounded.

    Args:
        model (nn.Module): The model that runs (e.g. from
            :func:`prepare_fp16_model`).
        kept (Sequence[str]): Names of its modules kept in fp32.
        selections (list[Tensor], optional): Indices of the top-k and sort
            calls of a reference run (a :class:`SelectionRecorder`'s); the
            calls of this run return them (with their own values at those
            indices), so that near ties do not reorder e.g. the selected
            queries and outputs compare element by element.
    """

    def __init__(
        self,
        model: nn.Module,
        kept: Sequence[str],
        selections: Optional[List[Tensor]] = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.kept = list(kept)
        self.selections = selections
        self.calls = 0
        self.paused = False
        self.kept_depth = 0
        self._handles: List[Any] = []

    def __enter__(self):
        modules = dict(self.model.named_modules())
        self.kept_depth = 0
        self.calls = 0
        for name in self.kept:
            module = modules[name]
            self._handles += [
                module.register_forward_pre_hook(self._enter_kept),
                module.register_forward_hook(
                    self._leave_kept, always_call=True
                ),
            ]
        return super().__enter__()

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return super().__exit__(*exc_info)

    def _enter_kept(self, module: nn.Module, args: Any) -> None:
        self.kept_depth += 1

    def _leave_kept(self, module: nn.Module, args: Any, output: Any) -> Any:
        self.kept_depth -= 1
        if self.kept_depth == 0 and not self.paused:
            return tree_map(_round_any, output)
        return None

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Tuple = (),
        kwargs: Dict = None,
    ) -> Any:
        kwargs = kwargs or {}
        if self.paused:
            return func(*args, **kwargs)
        if self.selections is not None and func in SELECTION_OPS:
            return self._select(func, args, kwargs)
        if self.kept_depth > 0:
            return func(*args, **kwargs)
        if func is torch.ops.aten.native_layer_norm.default:
            return _layer_norm(*args, **kwargs)
        out = func(*args, **kwargs)
        schema = func._schema
        if schema.is_mutable:
            # in-place and out= ops: round the written tensors in place
            values = dict(zip((a.name for a in schema.arguments), args))
            values.update(kwargs)
            for arg in schema.arguments:
                info = arg.alias_info
                if info is not None and info.is_write:
                    for tensor in _tensors(values.get(arg.name)):
                        tensor.copy_(round_fp16(tensor))
            return out
        if any(ret.alias_info is not None for ret in schema.returns):
            return out  # views share their (already rounded) input's data
        return tree_map(_round_any, out)

    def _select(self, func: Any, args: Tuple, kwargs: Dict) -> Any:
        out = func(*args, **kwargs)
        index = self.calls
        self.calls += 1
        if index >= len(self.selections):
            raise RuntimeError('more top-k / sort calls than recorded')
        indices = self.selections[index]
        if indices.shape != out[1].shape:
            raise RuntimeError(
                f'top-k / sort call {index}: shape {tuple(out[1].shape)}, '
                f'recorded {tuple(indices.shape)}'
            )
        values = args[0].gather(_selection_dim(func, args, kwargs), indices)
        if self.kept_depth == 0:
            values = round_fp16(values)
        return values, indices.clone()


def _tensors(value: Any) -> List[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Tensor)]
    return []
