"""Function rewriters applied while mmdeploy traces dfine_mm models.

``FoldedReLUAffine`` (the backbone's ReLU + learnable affine after
``switch_to_deploy()``) clamps at a one-element tensor, which exports as an
elementwise ``Max``/``Min`` against a constant. ONNX Runtime's NCHWc
convolutions cannot absorb that: it converts the layout back and forth
around every such node (measured: 28 ms of 145 ms for D-FINE-N at 640 on 2
threads). Exported with the bound as a number, the clamp is a ``Clip``,
which both ONNX Runtime and TensorRT fuse into the preceding convolution.
"""

from mmdeploy.core import FUNCTION_REWRITER
from torch import Tensor

# Imported now, not while mmdeploy patches functions: importing the model
# code inside a rewrite context (mmdet.models comes with it) upsets the
# rewriter's bookkeeping (KeyError on exit).
from ..models.layers import hgnetv2_blocks  # noqa: F401


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.hgnetv2_blocks.FoldedReLUAffine.forward'
)
def folded_relu_affine__forward(self, x: Tensor) -> Tensor:
    """Clamp at ``self.bound`` as a constant (exports as ``Clip``)."""
    bound = float(self.bound)
    return x.clamp(max=bound) if self.upper else x.clamp(min=bound)
