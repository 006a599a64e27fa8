"""mmdeploy's ``openvino`` backend on OpenVINO's current API.

Registered over mmdeploy's own ``OpenVINOManager`` (Model Optimizer and
``openvino.inference_engine``, both gone from current OpenVINO), so that
mmdeploy's backend models, ``to_backend`` and ``tools/test_deploy.py`` use
:func:`onnx_to_ir` and :class:`OpenVINORuntimeWrapper`.
"""

import logging
from typing import Any, Optional, Sequence

# mmdeploy's manager registers first, ours replaces it
from mmdeploy.backend.base import BACKEND_MANAGERS
from mmdeploy.backend.openvino.backend_manager import OpenVINOManager

from .runtime import ir_path, onnx_to_ir, openvino_version


@BACKEND_MANAGERS.register('openvino')
class DFineOpenVINOManager(OpenVINOManager):
    """OpenVINO 2024+ backend manager (CPU)."""

    @classmethod
    def build_wrapper(
        cls,
        backend_files: Sequence[str],
        device: str = 'cpu',
        input_names: Optional[Sequence[str]] = None,
        output_names: Optional[Sequence[str]] = None,
        deploy_cfg: Optional[Any] = None,
        **kwargs,
    ):
        """An :class:`OpenVINORuntimeWrapper` of ``backend_files[0]``."""
        from .wrapper import OpenVINORuntimeWrapper

        return OpenVINORuntimeWrapper(
            backend_files[0], output_names=output_names, deploy_cfg=deploy_cfg
        )

    @classmethod
    def is_available(cls, with_custom_ops: bool = False) -> bool:
        """OpenVINO importable (no custom ops are needed)."""
        return openvino_version() is not None

    @classmethod
    def get_version(cls) -> str:
        return openvino_version() or 'None'

    @classmethod
    def to_backend(
        cls,
        ir_files: Sequence[str],
        work_dir: str,
        deploy_cfg: Any,
        log_level: int = logging.INFO,
        device: str = 'cpu',
        **kwargs,
    ) -> Sequence[str]:
        """Convert each ONNX file to an IR in ``work_dir`` (with the
        config's ``backend_config.fp32_modules`` kept fp32)."""
        import mmengine

        mmengine.mkdir_or_exist(work_dir)
        keep = deploy_cfg.get('backend_config', {}).get('fp32_modules')
        return [
            onnx_to_ir(path, ir_path(path, work_dir), keep)
            for path in ir_files
        ]
