"""Mixed precision of OpenVINO IRs on the CPU, by module.

Layers of an IR converted from dfine_mm's ONNX export are named after the
PyTorch modules they come from (``/backbone/stages.2/blocks.0/...``), so a
module is a layer-name prefix.

- :func:`keep_fp32` marks the layers of some modules so that the CPU plugin
  keeps them in fp32 when it runs the rest in its low precision (bf16): the
  ``DisablePrecisionConversion`` runtime attribute, written into the IR's
  ``.xml``, which the plugin honours for convolutions, element-wise
  subgraphs and normalisations (not for matrix products with constant
  weights: it rebuilds them as ``FullyConnected`` without the attribute).
- :func:`lower_precision` is the opposite, for measurement: the marked
  modules' convolutions, matrix products, normalisations and softmaxes run
  in low precision through explicit conversions, everything else in fp32
  (compile with ``INFERENCE_PRECISION_HINT=f32``).
"""

import os.path as osp
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from typing import List, Optional, Sequence

#: the runtime attribute that keeps a layer's precision
KEEP_ATTRIBUTE = dict(
    name='DisablePrecisionConversion', version='0', value='dynamic:f16'
)
#: layers :func:`lower_precision` converts (the ones with arithmetic that
#: low precision changes; element-wise ops follow their inputs)
LOWERED_TYPES = (
    'Convolution', 'GroupConvolution', 'MatMul', 'MVN', 'Softmax',
)  # fmt: skip
_UNMARKED_TYPES = ('Parameter', 'Result', 'Const')


def _check_prefixes(prefixes: Sequence[str]) -> List[str]:
    if isinstance(prefixes, str) or not all(
        isinstance(p, str) and p for p in prefixes
    ):
        raise ValueError(
            'fp32 modules must be a list of layer-name prefixes such as '
            f"['/neck/fpn_blocks'], got {prefixes!r}"
        )
    return list(prefixes)


def _unmatched_error(missing: Sequence[str], names: Sequence[str]):
    top = sorted(Counter('/'.join(n.split('/')[:3]) for n in names))
    return ValueError(
        f'no layer of the IR is in module(s) {list(missing)}: give '
        f'layer-name prefixes such as {top[:12]}'
    )


def keep_fp32(
    xml_path: str, prefixes: Sequence[str], out_path: Optional[str] = None
) -> int:
    """Mark the layers of ``prefixes`` to stay fp32 in low precision.

    Args:
        xml_path (str): The IR's ``.xml`` (its ``.bin`` next to it).
        prefixes (Sequence[str]): Layer-name prefixes, one per module, e.g.
            ``'/neck/fpn_blocks'``.
        out_path (str, optional): Where the marked ``.xml`` goes (the
            ``.bin`` is copied next to it). Defaults to ``xml_path``.

    Returns:
        int: Number of layers marked.

    Raises:
        ValueError: A prefix that matches no layer (the IR's modules are
            named), or prefixes that are not a list of strings.
    """
    prefixes = _check_prefixes(prefixes)
    tree = ET.parse(xml_path)
    layers = [
        layer for layer in tree.getroot().iter('layer')
        if layer.get('type') not in _UNMARKED_TYPES
    ]  # fmt: skip
    names = [layer.get('name', '') for layer in layers]
    used = Counter()
    for layer, name in zip(layers, names):
        hits = [p for p in prefixes if name.startswith(p)]
        if not hits:
            continue
        used.update(hits)
        rt_info = layer.find('rt_info')
        if rt_info is None:
            rt_info = ET.SubElement(layer, 'rt_info')
        if not any(
            a.get('name') == KEEP_ATTRIBUTE['name'] for a in rt_info
        ):  # fmt: skip
            ET.SubElement(rt_info, 'attribute', **KEEP_ATTRIBUTE)
    missing = [p for p in prefixes if not used[p]]
    if missing:
        raise _unmatched_error(missing, names)
    out_path = out_path or xml_path
    tree.write(out_path)
    if osp.abspath(out_path) != osp.abspath(xml_path):
        shutil.copyfile(
            osp.splitext(xml_path)[0] + '.bin',
            osp.splitext(out_path)[0] + '.bin',
        )
    return sum(1 for name in names if any(map(name.startswith, prefixes)))


def fp32_layers(xml_path: str) -> List[str]:
    """Names of the layers :func:`keep_fp32` marked in an IR."""
    tree = ET.parse(xml_path)
    return [
        layer.get('name') for layer in tree.getroot().iter('layer')
        if any(a.get('name') == KEEP_ATTRIBUTE['name']
               for a in layer.iter('attribute'))
    ]  # fmt: skip


def module_prefixes(model, depth: int = 3) -> List[str]:
    """The module prefixes of an ``openvino.Model``'s named layers.

    Args:
        model (openvino.Model): A model read from dfine_mm's IR.
        depth (int): Name components kept (``/backbone/stages.2`` is 3).

    Returns:
        list[str]: Prefixes in first-use order, those of layers with
        arithmetic (:data:`LOWERED_TYPES`) only.
    """
    seen = {}
    for op in model.get_ordered_ops():
        name = op.get_friendly_name()
        if op.get_type_name() in LOWERED_TYPES and name.startswith('/'):
            seen.setdefault('/'.join(name.split('/')[:depth]), None)
    return list(seen)


def lower_precision(
    model, prefixes: Sequence[str], element_type: str = 'bf16'
) -> int:
    """Run the layers of ``prefixes`` in ``element_type``, in place.

    Each convolution, matrix product, normalisation or softmax of the
    modules gets its float inputs converted to ``element_type`` and its
    output converted back to fp32. Compile the model with
    ``INFERENCE_PRECISION_HINT=f32`` so that the rest stays fp32.

    Args:
        model (openvino.Model): Changed in place.
        prefixes (Sequence[str]): Layer-name prefixes; ``'/'`` is all.
        element_type (str): ``'bf16'`` or ``'f16'``.

    Returns:
        int: Number of layers lowered.

    Raises:
        ValueError: A prefix that matches no such layer.
    """
    import openvino as ov
    from openvino import opset13 as ops

    prefixes = _check_prefixes(prefixes)
    ops_ = [
        op for op in model.get_ordered_ops()
        if op.get_type_name() in LOWERED_TYPES
    ]  # fmt: skip
    used = Counter()
    count = 0
    for op in ops_:
        hits = [p for p in prefixes if op.get_friendly_name().startswith(p)]
        if not hits:
            continue
        used.update(hits)
        for port in op.inputs():
            source = port.get_source_output()
            if source.get_element_type() == ov.Type.f32:
                port.replace_source_output(
                    ops.convert(source, element_type).output(0)
                )
        output = op.output(0)
        targets = list(output.get_target_inputs())
        op.validate_and_infer_types()
        back = ops.convert(output, 'f32').output(0)
        for target in targets:
            target.replace_source_output(back)
        count += 1
    missing = [p for p in prefixes if not used[p]]
    if missing:
        raise _unmatched_error(
            missing, [op.get_friendly_name() for op in ops_]
        )
    model.validate_nodes_and_infer_types()
    return count
