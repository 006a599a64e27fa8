# OpenVINO (CPU), low precision (_base_/openvino_lowp.py), dynamic batch and
# image size (sides divisible by 32).
_base_ = ['./detection_openvino_dynamic.py', './_base_/openvino_lowp.py']
backend_config = _base_.openvino_lowp
