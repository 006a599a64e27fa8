"""A TensorRT 10+ runner with mmdeploy's backend-wrapper interface."""

from typing import Dict, Optional, Sequence

import torch
from mmdeploy.backend.base import BaseWrapper

from .builder import cuda_device_id, require_tensorrt


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.int32: torch.int32,
        trt.int64: torch.int64,
        trt.int8: torch.int8,
        trt.bool: torch.bool,
    }
    if dtype not in table:
        raise TypeError(f'unsupported TensorRT tensor type {dtype}')
    return table[dtype]


class TensorRT10Wrapper(BaseWrapper):
    """Run a serialised engine with TensorRT 10's tensor-address API
    (``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3``),
    replacing mmdeploy 1.3.1's ``TRTWrapper`` (binding API, removed in
    TensorRT 10).

    Args:
        engine (str): Path of the serialised engine.
        output_names (Sequence[str], optional): Outputs to return, in
            order. Defaults to the engine's outputs.
        device (str): CUDA device. Defaults to 'cuda:0'.
    """

    def __init__(
        self,
        engine: str,
        output_names: Optional[Sequence[str]] = None,
        device: str = 'cuda:0',
    ) -> None:
        trt = require_tensorrt()
        self._trt = trt
        self.device = torch.device('cuda', cuda_device_id(device))
        logger = trt.Logger(trt.Logger.WARNING)
        with open(engine, 'rb') as file, trt.Runtime(logger) as runtime:
            self.engine = runtime.deserialize_cuda_engine(file.read())
        if self.engine is None:
            raise RuntimeError(
                f'TensorRT could not load the engine {engine} (built with '
                'another TensorRT version or GPU? rebuild it with '
                'tools/deploy.py)'
            )
        names = [
            self.engine.get_tensor_name(i)
            for i in range(self.engine.num_io_tensors)
        ]
        mode = trt.TensorIOMode.INPUT
        self._input_names = [
            n for n in names if self.engine.get_tensor_mode(n) == mode
        ]
        outputs = [n for n in names if n not in self._input_names]
        super().__init__(list(output_names) if output_names else outputs)
        self.context = self.engine.create_execution_context()

    def forward(
        self, inputs: Dict[str, torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        """Run the engine.

        Args:
            inputs (dict[str, Tensor]): Input name to tensor (moved to the
                engine's device and dtype as needed).

        Returns:
            dict[str, Tensor]: Output name to tensor on the engine's device.
        """
        trt, engine, context = self._trt, self.engine, self.context
        keep_alive = []
        for name in self._input_names:
            if name not in inputs:
                raise KeyError(f'the engine needs input {name!r}')
            dtype = _torch_dtype(trt, engine.get_tensor_dtype(name))
            tensor = inputs[name].to(self.device, dtype).contiguous()
            keep_alive.append(tensor)
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for name in self._output_names:
            shape = tuple(context.get_tensor_shape(name))
            dtype = _torch_dtype(trt, engine.get_tensor_dtype(name))
            out = torch.empty(shape, dtype=dtype, device=self.device)
            context.set_tensor_address(name, out.data_ptr())
            outputs[name] = out
        stream = torch.cuda.current_stream(self.device)
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError('TensorRT execution failed (see its log)')
        stream.synchronize()
        return outputs
