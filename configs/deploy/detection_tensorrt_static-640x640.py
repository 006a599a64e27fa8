# TensorRT 10+, fp32, static 1x3x640x640. The engine is built by dfine_mm's
# builder (no mmdeploy plugin library needed).
_base_ = ['./_base_/detection_static.py']
onnx_config = dict(input_shape=[640, 640])
backend_config = dict(
    type='tensorrt',
    common_config=dict(fp16_mode=False, max_workspace_size=1 << 30),
    model_inputs=[
        dict(
            input_shapes=dict(
                input=dict(
                    min_shape=[1, 3, 640, 640],
                    opt_shape=[1, 3, 640, 640],
                    max_shape=[1, 3, 640, 640],
                )
            )
        )
    ],
)
