# Shared by every dfine_mm deploy config: mmdeploy's object-detection task,
# end-to-end model (the D-FINE post-processing, top-K over queries x
# classes, is inside the graph; no NMS), opset 17 so that deformable
# sampling is a standard GridSample and layer norms a native
# LayerNormalization. Outputs follow mmdeploy's detection convention:
# dets (B, K, 5) = x1, y1, x2, y2 in input pixels + score; labels (B, K).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=17,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'labels'],
    input_shape=None,  # the model config's test pipeline decides
    optimize=False,
)
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.0,
        confidence_threshold=0.0,
        iou_threshold=0.5,
        max_output_boxes_per_class=300,
        pre_top_k=-1,
        keep_top_k=300,
        background_label_id=-1,
    ),
)
