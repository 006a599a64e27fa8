"""Function rewriters applied while mmdeploy traces dfine_mm models.

``FoldedReLUAffine`` (the backbone's ReLU + learnable affine after
``switch_to_deploy()``) clamps at a one-element tensor, which exports as an
elementwise ``Max``/``Min`` against a constant. ONNX Runtime's NCHWc
convolutions cannot absorb that: it converts the layout back and forth
around every such node (measured: 28 ms of 145 ms for D-FINE-N at 640 on 2
threads). Exported with the bound as a number, the clamp is a ``Clip``,
which both ONNX Runtime and TensorRT fuse into the preceding convolution.

``RepNCSPELAN4`` (the neck's fusion blocks) splits the output of its first
1x1 convolution in two halves and concatenates them again with the two
branch outputs. ONNX Runtime keeps ``Split`` in plain NCHW, so every block
converted its NCHWc layout out and back in around the ``Split`` and the
``Concat`` (5 conversions per block). Exported as two convolutions, one per
half (the same weights, sliced), both halves and the ``Concat`` stay NCHWc.
"""

import torch
import torch.nn.functional as F
from mmdeploy.core import FUNCTION_REWRITER
from torch import Tensor

# Imported now, not while mmdeploy patches functions: importing the model
# code inside a rewrite context (mmdet.models comes with it) upsets the
# rewriter's bookkeeping (KeyError on exit).
from ..models.layers import hgnetv2_blocks, rep_ncsp_elan  # noqa: F401


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.hgnetv2_blocks.FoldedReLUAffine.forward'
)
def folded_relu_affine__forward(self, x: Tensor) -> Tensor:
    """Clamp at ``self.bound`` as a constant (exports as ``Clip``)."""
    bound = float(self.bound)
    return x.clamp(max=bound) if self.upper else x.clamp(min=bound)


@FUNCTION_REWRITER.register_rewriter(
    'dfine_mm.models.layers.rep_ncsp_elan.RepNCSPELAN4.forward'
)
def rep_ncsp_elan4__forward(self, x: Tensor) -> Tensor:
    """The first 1x1 convolution as one convolution per half (deploy form;
    the training form exports unchanged)."""
    cv1 = self.cv1
    if not cv1.deployed:
        context = FUNCTION_REWRITER.get_context()
        return context.origin_func(self, x)
    conv, half = cv1.conv_bn_fused, self.split_channels
    y0, y1 = (
        cv1.act(
            F.conv2d(
                x,
                conv.weight[start : start + half],
                conv.bias[start : start + half],
                conv.stride,
                conv.padding,
            )
        )
        for start in (0, half)
    )
    y2 = self.cv2(y1)
    y3 = self.cv3(y2)
    return self.cv4(torch.cat((y0, y1, y2, y3), dim=1))
