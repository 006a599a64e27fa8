"""Evaluate an exported model (``tools/test_deploy.py``)."""

import copy
from typing import Dict, Optional, Sequence

from mmengine.config import Config

from .export import load_configs, task_processor


def _static_batch(deploy_cfg: Config) -> bool:
    from mmdeploy.utils import get_dynamic_axes, get_onnx_config

    names = get_onnx_config(deploy_cfg)['input_names']
    axes = get_dynamic_axes(deploy_cfg, names) or {}
    return 0 not in axes.get(names[0], {})


def evaluate_backend_model(
    deploy_cfg,
    model_cfg,
    model_files: Sequence[str],
    work_dir: str,
    device: str = 'cpu',
    batch_size: int = 1,
    cfg_options: Optional[dict] = None,
    out: Optional[str] = None,
) -> Dict[str, float]:
    """Run the model config's test loop and evaluator on a backend model.

    Args:
        deploy_cfg (str | Config): The deploy config the model was exported
            with.
        model_cfg (str | Config): The model config (test data set,
            pipeline, evaluator).
        model_files (Sequence[str]): ``end2end.onnx`` or ``end2end.engine``.
        work_dir (str): Where logs and metrics go.
        device (str): 'cpu' (ONNX Runtime) or 'cuda:N'.
        batch_size (int): Test batch size; must be 1 for exports without
            a dynamic batch axis.
        cfg_options (dict, optional): Overrides merged into the model config.
        out (str, optional): Also dump the detections to this ``.pkl``
            file (mmdet's ``DumpDetResults``, as ``tools/test.py --out``).

    Returns:
        dict: The evaluator's metrics.

    Raises:
        ValueError: ``batch_size`` > 1 with a static-batch export, or an
            ``out`` that is not a ``.pkl`` file.
    """
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg, cfg_options)
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'out must be a .pkl file, got {out}')
        evaluators = model_cfg.test_evaluator
        if not isinstance(evaluators, list):
            evaluators = [evaluators]
        model_cfg.test_evaluator = [
            *evaluators,
            dict(type='DumpDetResults', out_file_path=out),
        ]
    if batch_size > 1 and _static_batch(deploy_cfg):
        raise ValueError(
            f'batch_size={batch_size} needs an export with a dynamic batch '
            'axis (e.g. configs/deploy/detection_onnxruntime_dynamic.py); '
            'this deploy config is static: use --batch-size 1'
        )
    task = task_processor(deploy_cfg, model_cfg, device)
    model = task.build_backend_model(
        list(model_files),
        data_preprocessor_updater=task.update_data_preprocessor,
    )
    dataloader = copy.deepcopy(model_cfg.test_dataloader)
    dataloader['batch_size'] = batch_size
    runner = task.build_test_runner(
        model, work_dir, dataloader=task.build_dataloader(dataloader)
    )
    return runner.test()
