# TensorRT 10+, fp16, static 1x3x640x640. Normalization layers stay fp32
# (D-FINE-family models collapse when their norms run in fp16).
_base_ = ['./detection_tensorrt_static-640x640.py']
backend_config = dict(common_config=dict(fp16_mode=True))
