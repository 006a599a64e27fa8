# ONNX Runtime, static shape: batch 1 at the model config's test size.
#   python tools/deploy.py configs/deploy/detection_onnxruntime_static.py \
#       MODEL_CFG CHECKPOINT IMAGE --work-dir work_dirs/onnx
_base_ = ['./_base_/detection_static.py']
backend_config = dict(type='onnxruntime')
