# OpenVINO (CPU), low precision, static 1x3x640x640: bf16 where the CPU has
# it, with the modules of _base_/openvino_lowp.py kept fp32.
_base_ = [
    './detection_openvino_static-640x640.py',
    './_base_/openvino_lowp.py',
]
backend_config = _base_.openvino_lowp
