# OpenVINO (CPU), fp32, static 1x3x640x640: the IR (end2end.xml / .bin) is
# converted from the ONNX file with OpenVINO's current API and runs with
# INFERENCE_PRECISION_HINT=f32 (the CPU's default is bf16 where it has it).
#   python tools/deploy.py \
#       configs/deploy/detection_openvino_static-640x640.py \
#       MODEL_CFG CHECKPOINT IMAGE --work-dir work_dirs/openvino
_base_ = ['./_base_/detection_static.py']
onnx_config = dict(input_shape=[640, 640])
backend_config = dict(
    type='openvino',
    precision='f32',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 640, 640]))],
)
