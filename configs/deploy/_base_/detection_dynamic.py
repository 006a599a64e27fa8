# Dynamic batch and image size (sides divisible by 32).
_base_ = ['./detection_static.py']
onnx_config = dict(
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        dets={0: 'batch', 1: 'num_dets'},
        labels={0: 'batch', 1: 'num_dets'},
    ),
)
