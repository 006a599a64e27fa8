# OpenVINO's fast CPU mode: the CPU plugin's own precision (bf16 on CPUs
# with bf16 kernels, fp32 otherwise), with `fp32_modules` (layer-name
# prefixes) kept fp32. Measured on the demo checkpoint
# (tools/analysis_tools/openvino_precision.py; docs/deploy.md): bf16's
# error is spread over the network, keeping any one module fp32 leaves the
# mean score difference where it is (0.0045-0.0047 vs 0.0046), and the
# module that loses the most by itself, the FPN block, costs D-FINE-S a
# fifth of its speed (1.79x -> 1.40x fp32's): none is kept. Measure your
# model and list its modules here when one stands out.
openvino_lowp = dict(precision='default', fp32_modules=[])
