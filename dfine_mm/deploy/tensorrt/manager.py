"""mmdeploy's ``tensorrt`` backend, redirected to TensorRT 10+.

Registered over mmdeploy's own ``TensorRTManager`` (which imports
TensorRT 8-only APIs and its plugin library), so that mmdeploy's backend
models, ``to_backend`` and ``tools/test_deploy.py`` use dfine_mm's builder
and :class:`TensorRT10Wrapper`.
"""

import logging
import os.path as osp
from typing import Any, Optional, Sequence

# mmdeploy's manager registers first, ours replaces it
from mmdeploy.backend.base import BACKEND_MANAGERS
from mmdeploy.backend.tensorrt.backend_manager import TensorRTManager
from mmengine.utils import digit_version

from .builder import (
    MIN_TENSORRT,
    build_engine_from_deploy_cfg,
    tensorrt_version,
)


@BACKEND_MANAGERS.register('tensorrt')
class DFineTensorRTManager(TensorRTManager):
    """TensorRT 10+ backend manager (no plugin library)."""

    @classmethod
    def build_wrapper(
        cls,
        backend_files: Sequence[str],
        device: str = 'cuda:0',
        input_names: Optional[Sequence[str]] = None,
        output_names: Optional[Sequence[str]] = None,
        deploy_cfg: Optional[Any] = None,
        **kwargs,
    ):
        """A :class:`TensorRT10Wrapper` of ``backend_files[0]``."""
        from .wrapper import TensorRT10Wrapper

        return TensorRT10Wrapper(
            backend_files[0], output_names=output_names, device=device
        )

    @classmethod
    def is_available(cls, with_custom_ops: bool = False) -> bool:
        """TensorRT >= 10 importable (no custom ops are needed)."""
        version = tensorrt_version()
        return version is not None and digit_version(version) >= digit_version(
            MIN_TENSORRT
        )

    @classmethod
    def get_version(cls) -> str:
        return tensorrt_version() or 'None'

    @classmethod
    def to_backend(
        cls,
        ir_files: Sequence[str],
        work_dir: str,
        deploy_cfg: Any,
        log_level: int = logging.INFO,
        device: str = 'cuda:0',
        **kwargs,
    ) -> Sequence[str]:
        """Build one engine per ONNX file into ``work_dir``."""
        engines = []
        for onnx_path in ir_files:
            name = osp.splitext(osp.basename(onnx_path))[0]
            engine = osp.join(work_dir, name + '.engine')
            engines.append(
                build_engine_from_deploy_cfg(
                    onnx_path, engine, deploy_cfg, device=device
                )
            )
        return engines
