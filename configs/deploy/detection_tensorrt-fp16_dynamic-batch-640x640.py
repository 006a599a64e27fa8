# TensorRT 10+, fp16, batch 1-32 at 640x640 (optimised for batch 8).
_base_ = ['./_base_/detection_static.py']
onnx_config = dict(
    input_shape=[640, 640],
    dynamic_axes=dict(
        input={0: 'batch'},
        dets={0: 'batch'},
        labels={0: 'batch'},
    ),
)
backend_config = dict(
    type='tensorrt',
    common_config=dict(fp16_mode=True, max_workspace_size=1 << 30),
    model_inputs=[
        dict(
            input_shapes=dict(
                input=dict(
                    min_shape=[1, 3, 640, 640],
                    opt_shape=[8, 3, 640, 640],
                    max_shape=[32, 3, 640, 640],
                )
            )
        )
    ],
)
