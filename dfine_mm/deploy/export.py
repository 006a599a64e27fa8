"""``tools/deploy.py``'s pipeline: checks, the ONNX export through mmdeploy's
rewriters, the standard-domain check of the graph and, for TensorRT
configs, the engine (for OpenVINO configs, the IR)."""

import copy
import logging
import os.path as osp
from collections import Counter
from typing import Any, Dict, Optional, Tuple, Union

import mmengine
import numpy as np
from mmengine.config import Config
from mmengine.logging import print_log

from .onnx_exporter import check_opset
from .openvino import ir_path, onnx_to_ir, require_openvino
from .tensorrt import (
    build_engine_from_deploy_cfg,
    default_opset,
    require_tensorrt,
    tensorrt_problems,
)

ConfigType = Union[str, Config]


def load_configs(
    deploy_cfg: ConfigType,
    model_cfg: ConfigType,
    cfg_options: Optional[dict] = None,
) -> Tuple[Config, Config]:
    """Load the deploy and model configs (paths or Configs).

    ``cfg_options`` (``--cfg-options`` of the tools) are merged into the
    model config. mmdeploy traces the export with the model config's
    top-level ``test_pipeline``, whereas ``tools/test.py`` and
    ``tools/test_deploy.py`` feed the model with the test dataloader's
    pipeline: the returned model config's ``test_pipeline`` is the
    dataloader's, so that an override of one (or a config that only has
    the dataloader's) exports the model the evaluation runs. A Config
    passed in is not modified (a copy is returned when anything changes).

    Returns:
        tuple[Config, Config]: The deploy config and the model config.
    """
    from mmdeploy.utils import load_config

    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    if cfg_options:
        model_cfg = copy.deepcopy(model_cfg)
        model_cfg.merge_from_dict(cfg_options)
    return deploy_cfg, _dataloader_test_pipeline(model_cfg)


def _dataloader_test_pipeline(model_cfg: Config) -> Config:
    """``model_cfg`` with ``test_pipeline`` set to the test dataloader's
    pipeline (a copy when it changes; unchanged without a test dataloader).
    """
    from mmdet.utils import get_test_pipeline_cfg

    if model_cfg.get('test_dataloader') is None:
        return model_cfg
    pipeline = get_test_pipeline_cfg(model_cfg)
    current = model_cfg.get('test_pipeline')
    if _unscoped(current) == _unscoped(pipeline):
        return model_cfg
    if current is not None:
        print_log(
            f'{model_cfg.filename}: the top-level test_pipeline differs '
            'from test_dataloader.dataset.pipeline; the export uses the '
            "test dataloader's, which tools/test.py and "
            'tools/test_deploy.py evaluate with (override '
            'test_dataloader.dataset.pipeline to change both)',
            logger='current',
            level=logging.WARNING,
        )
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.test_pipeline = copy.deepcopy(pipeline)
    return model_cfg


def _unscoped(cfg: Any) -> Any:
    """``cfg`` without the ``_scope_`` keys that inheriting from another
    package's config (``mmdet::...``) adds to some copies of a pipeline."""
    if isinstance(cfg, dict):
        return {k: _unscoped(v) for k, v in cfg.items() if k != '_scope_'}
    if isinstance(cfg, (list, tuple)):
        return [_unscoped(v) for v in cfg]
    return cfg


def deploy_backend(deploy_cfg: Config) -> str:
    """mmdeploy backend name of a deploy config, e.g. ``'onnxruntime'``."""
    from mmdeploy.utils import get_backend

    return get_backend(deploy_cfg).value


def check_checkpoint(model_cfg: Config, checkpoint: str) -> None:
    """Build the model of ``model_cfg`` and compare ``checkpoint`` with it.

    Runs before any tracing, so that a checkpoint of another config (e.g.
    another D-FINE variant or class count) fails with the key and shape
    differences instead of an error deep in the ONNX export.

    Raises:
        FileNotFoundError: No such checkpoint file.
        ValueError: Missing, unexpected or mis-shaped keys.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from ..converters.dfine import check_against_model, read_source_state_dict

    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    register_all_modules()
    # deep copy: mmdet's DETRs write into their nested head config
    cfg = copy.deepcopy(model_cfg.model)
    cfg.pop('pretrained', None)
    model = MODELS.build(cfg)
    state_dict = read_source_state_dict(checkpoint)
    state_dict = {
        k[len('module.') :] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }
    try:
        check_against_model(
            state_dict, model, f'the model of {model_cfg.filename}'
        )
    except ValueError as err:
        raise ValueError(
            f'{checkpoint} cannot be deployed with this model config: {err}. '
            'Pass the config the checkpoint was trained with (or, for '
            'official / transformers weights, the variant config that '
            'tools/model_converters/dfine_to_mmdet.py reports).'
        ) from None


def task_processor(deploy_cfg: Config, model_cfg: Config, device='cpu'):
    """mmdeploy's task processor, on any device for any backend.

    ``mmdeploy.apis.build_task_processor`` refuses a CPU device for TensorRT
    configs, although the ONNX export and the PyTorch reference run on the
    CPU; this builds the same processor without that check.
    """
    from mmdeploy.codebase import get_codebase_class, import_codebase
    from mmdeploy.utils import get_codebase

    codebase_type = get_codebase(deploy_cfg, model_cfg=model_cfg)
    import_codebase(codebase_type)
    return get_codebase_class(codebase_type).build_task_processor(
        model_cfg, deploy_cfg, device
    )


def torch_to_onnx(
    img: Union[str, np.ndarray],
    onnx_path: str,
    deploy_cfg: Config,
    model_cfg: Config,
    checkpoint: Optional[str],
) -> None:
    """Trace the model of ``model_cfg`` into ``onnx_path`` on the CPU with
    mmdeploy's rewriters for the deploy config's backend.

    mmdeploy's ``torch2onnx`` does the same but refuses a CPU device for
    TensorRT configs although the export itself always runs on the CPU;
    here a TensorRT config's ONNX file is written on machines without a
    GPU too.
    """
    from mmdeploy.apis.onnx import export
    from mmdeploy.utils import (
        get_dynamic_axes,
        get_input_shape,
        get_onnx_config,
    )

    task = task_processor(deploy_cfg, model_cfg)
    model = task.build_pytorch_model(checkpoint)
    data, inputs = task.create_input(
        img,
        get_input_shape(deploy_cfg),
        data_preprocessor=getattr(model, 'data_preprocessor', None),
    )
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    onnx_cfg = get_onnx_config(deploy_cfg)
    names = onnx_cfg['input_names'] + onnx_cfg['output_names']
    export(
        model,
        inputs,
        output_path_prefix=osp.splitext(onnx_path)[0],
        backend=deploy_backend(deploy_cfg),
        input_metas=dict(data_samples=data['data_samples'], mode='predict'),
        context_info=dict(deploy_cfg=deploy_cfg),
        input_names=onnx_cfg['input_names'],
        output_names=onnx_cfg['output_names'],
        opset_version=onnx_cfg['opset_version'],
        dynamic_axes=get_dynamic_axes(deploy_cfg, names),
        keep_initializers_as_inputs=onnx_cfg.get(
            'keep_initializers_as_inputs', False
        ),
        optimize=onnx_cfg.get('optimize', False),
    )


def onnx_domains(path: str) -> Tuple[int, Counter]:
    """Opset and (domain, op type) counts of an ONNX file's main graph."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    opset = default_opset(model) or 0
    ops = Counter((node.domain, node.op_type) for node in model.graph.node)
    return opset, ops


def check_standard_onnx(path: str) -> None:
    """Raise if the graph has nodes outside the default ONNX domain.

    Raises:
        RuntimeError: Listing the custom-domain ops (a rewriter that did not
            apply; report it with the deploy config).
    """
    _, ops = onnx_domains(path)
    custom = sorted(f'{d}::{t}' for d, t in ops if d not in ('', 'ai.onnx'))
    if custom:
        raise RuntimeError(
            f'{path} holds non-standard ONNX ops {custom}; dfine_mm exports '
            'use standard ops only (was dfine_mm.deploy imported before the '
            'export?)'
        )


def export_model(
    deploy_cfg: ConfigType,
    model_cfg: ConfigType,
    checkpoint: Optional[str],
    img: Union[str, np.ndarray],
    work_dir: str,
    device: str = 'cpu',
    cfg_options: Optional[dict] = None,
) -> Dict[str, str]:
    """Export ``checkpoint`` with ``deploy_cfg``; build a TensorRT engine
    when the deploy config asks for one.

    Args:
        deploy_cfg (str | Config): mmdeploy deploy config.
        model_cfg (str | Config): The model's mmdet config.
        checkpoint (str, optional): Weights; None exports the randomly
            initialised model (for tests).
        img (str | np.ndarray): Image traced through the model (BGR).
        work_dir (str): Output directory.
        device (str): Device of the TensorRT engine ('cuda:N'); the ONNX
            export itself always runs on the CPU.
        cfg_options (dict, optional): Overrides merged into the model
            config (see :func:`load_configs`).

    Returns:
        dict: ``onnx`` path, and ``engine`` path for TensorRT configs,
        ``xml`` (OpenVINO IR) path for OpenVINO configs.

    Raises:
        ValueError: Unsupported opset, or a checkpoint that does not match
            the model config.
        FileNotFoundError: Missing checkpoint or image.
        RuntimeError: TensorRT config without TensorRT 10+, or OpenVINO
            config without OpenVINO (after the ONNX file is written).
    """
    from mmdeploy.utils import get_onnx_config

    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg, cfg_options)
    backend = deploy_backend(deploy_cfg)
    onnx_cfg = get_onnx_config(deploy_cfg)
    check_opset(onnx_cfg.get('opset_version', 11), backend)
    if isinstance(img, str) and not osp.isfile(img):
        raise FileNotFoundError(f'image not found: {img}')
    if checkpoint is not None:
        check_checkpoint(model_cfg, checkpoint)
    mmengine.mkdir_or_exist(osp.abspath(work_dir))
    save_file = onnx_cfg.get('save_file', 'end2end.onnx')
    print_log(f'exporting {model_cfg.filename} to ONNX ({backend})', 'current')
    onnx_path = osp.join(work_dir, save_file)
    torch_to_onnx(img, onnx_path, deploy_cfg, model_cfg, checkpoint)
    check_standard_onnx(onnx_path)
    print_log(f'ONNX model written: {onnx_path}', 'current')
    outputs = dict(onnx=onnx_path)
    if backend == 'tensorrt':
        problems = tensorrt_problems(onnx_path)
        if problems:
            raise RuntimeError(
                f'{onnx_path} cannot be built by TensorRT 10: '
                + '; '.join(problems)
            )
        require_tensorrt(f'the ONNX model is written ({onnx_path}); ')
        engine_path = osp.splitext(onnx_path)[0] + '.engine'
        build_engine_from_deploy_cfg(
            onnx_path, engine_path, deploy_cfg, device=device
        )
        print_log(f'TensorRT engine written: {engine_path}', 'current')
        outputs['engine'] = engine_path
    if backend == 'openvino':
        require_openvino(f'the ONNX model is written ({onnx_path}); ')
        outputs['xml'] = onnx_to_ir(
            onnx_path, ir_path(onnx_path),
            deploy_cfg.backend_config.get('fp32_modules'),
        )  # fmt: skip
        print_log(f'OpenVINO IR written: {outputs["xml"]}', 'current')
    return outputs


__all__ = [
    'check_checkpoint',
    'check_standard_onnx',
    'deploy_backend',
    'export_model',
    'load_configs',
    'onnx_domains',
    'task_processor',
    'torch_to_onnx',
]
