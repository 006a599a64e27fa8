# OpenVINO (CPU), fp32, dynamic batch and image size (sides divisible by
# 32); INFERENCE_PRECISION_HINT=f32.
_base_ = ['./_base_/detection_dynamic.py']
backend_config = dict(type='openvino', precision='f32')
