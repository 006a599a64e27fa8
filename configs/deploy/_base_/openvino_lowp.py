# OpenVINO's fast CPU mode: the CPU plugin's own precision (bf16 on CPUs
# with bf16 kernels, fp32 otherwise), with the modules that lose the most
# accuracy in bf16 kept fp32. Chosen by measurement on the demo checkpoint
# (tools/analysis_tools/openvino_precision.py; docs/deploy.md): the FPN
# blocks lose the most by themselves and keep 1.7x fp32's speed when kept
# fp32 (the stem and backbone stages, next, would cost a third of it).
openvino_lowp = dict(precision='default', fp32_modules=['/neck/fpn_blocks'])
