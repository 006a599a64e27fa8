"""An OpenVINO runner with mmdeploy's backend-wrapper interface."""

from typing import Any, Dict, Optional, Sequence

import torch
from mmdeploy.backend.base import BaseWrapper

from .runtime import (
    check_ir_shape,
    compile_config,
    config_input_shape,
    require_openvino,
)


class OpenVINORuntimeWrapper(BaseWrapper):
    """Run an OpenVINO IR on the CPU with OpenVINO's current API, replacing
    mmdeploy 1.3.1's ``OpenVINOWrapper`` (``openvino.inference_engine``,
    removed, and batch 1 only).

    Args:
        ir_file (str): The IR's ``.xml`` (its ``.bin`` next to it).
        output_names (Sequence[str], optional): Outputs to return, in
            order. Defaults to the IR's outputs.
        deploy_cfg (Config, optional): The deploy config: its
            ``backend_config`` (``precision``: 'f32' (default), 'bf16',
            'f16' or 'default', the CPU's own choice; ``num_threads``) and
            its static input shape, which the IR must have.

    Raises:
        ValueError: A static IR whose input is not the config's.
    """

    def __init__(
        self,
        ir_file: str,
        output_names: Optional[Sequence[str]] = None,
        deploy_cfg: Optional[Any] = None,
    ) -> None:
        ov = require_openvino()
        core = ov.Core()
        model = core.read_model(ir_file)
        check_ir_shape(model, config_input_shape(deploy_cfg), ir_file)
        backend = dict(deploy_cfg.get('backend_config', {})) if (
            deploy_cfg is not None) else {}  # fmt: skip
        self.config = compile_config(backend)
        self.compiled = core.compile_model(model, 'CPU', self.config)
        self._input_names = [p.get_any_name() for p in self.compiled.inputs]
        names = [p.get_any_name() for p in self.compiled.outputs]
        super().__init__(list(output_names) if output_names else names)
        self._request = self.compiled.create_infer_request()

    def forward(
        self, inputs: Dict[str, torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        """Run the IR.

        Args:
            inputs (dict[str, Tensor]): Input name to tensor (any device;
                run on the CPU).

        Returns:
            dict[str, Tensor]: Output name to CPU tensor.
        """
        feed = {
            name: inputs[name].detach().cpu().contiguous().numpy()
            for name in self._input_names
        }
        results = self._request.infer(feed)
        by_name = {
            port.get_any_name(): value for port, value in results.items()
        }
        return {
            name: torch.from_numpy(by_name[name].copy())
            for name in self.output_names
        }
