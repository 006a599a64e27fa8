# ONNX Runtime, dynamic batch and image size (sides divisible by 32).
_base_ = ['./_base_/detection_dynamic.py']
backend_config = dict(type='onnxruntime')
