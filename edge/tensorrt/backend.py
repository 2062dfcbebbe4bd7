"""The ``tensorrt`` classifier backend: a deserialized engine, pycuda buffers and one stream.

No ``pycuda.autoinit``: the backend retains the GPU's primary context and pushes it around every
call, so it works from whichever thread runs the loop, and pops it again so other CUDA users
(a second model, a video decoder) are not disturbed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pycuda.driver as cuda
import tensorrt as trt

from edge.model_meta import ModelInfo
from edge.tensorrt.engine_cache import DeviceFacts

log = logging.getLogger(__name__)


class _Logger(trt.ILogger):
    def __init__(self) -> None:
        trt.ILogger.__init__(self)

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
            log.error("TensorRT: %s", msg)
        elif severity == trt.ILogger.Severity.WARNING:
            log.warning("TensorRT: %s", msg)


def device_facts(device_index: int = 0) -> DeviceFacts:
    cuda.init()
    device = cuda.Device(device_index)
    major, minor = device.compute_capability()
    return DeviceFacts(str(trt.__version__), str(device.name()), f"{major}.{minor}")


class TensorRTClassifier:
    backend = "tensorrt"

    def __init__(self, engine_path: Path, info: ModelInfo, max_batch: int, device_index: int = 0) -> None:
        self.info = info
        self.max_batch = max_batch
        cuda.init()
        self._context: Any = cuda.Device(device_index).retain_primary_context()
        self._context.push()
        try:
            self._runtime = trt.Runtime(_Logger())
            engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
            if engine is None:
                raise RuntimeError(f"TensorRT could not deserialize {engine_path}; rebuild it on this device")
            self._engine: trt.ICudaEngine = engine
            self._exec = self._engine.create_execution_context()
            self._stream: Any = cuda.Stream()
            sample = (max_batch, *info.input_shape[1:])
            self._host_in: npt.NDArray[np.float32] = cuda.pagelocked_empty(sample, np.float32)
            self._host_out: npt.NDArray[np.float32] = cuda.pagelocked_empty((max_batch, len(info.classes)), np.float32)
            self._dev_in: Any = cuda.mem_alloc(self._host_in.nbytes)
            self._dev_out: Any = cuda.mem_alloc(self._host_out.nbytes)
            self._exec.set_tensor_address(info.input_name, int(self._dev_in))
            self._exec.set_tensor_address(info.output_name, int(self._dev_out))
        finally:
            self._context.pop()

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        x = self.info.preprocessing.apply(crops)
        out = np.empty((len(x), len(self.info.classes)), dtype=np.float32)
        self._context.push()
        try:
            for start in range(0, len(x), self.max_batch):
                chunk = x[start : start + self.max_batch]
                n = len(chunk)
                self._host_in[:n] = chunk
                cuda.memcpy_htod_async(self._dev_in, self._host_in[:n], self._stream)
                self._exec.set_input_shape(self.info.input_name, tuple(chunk.shape))
                if not self._exec.execute_async_v3(self._stream.handle):
                    raise RuntimeError("TensorRT execute_async_v3 failed")
                cuda.memcpy_dtoh_async(self._host_out[:n], self._dev_out, self._stream)
                self._stream.synchronize()
                out[start : start + n] = self._host_out[:n]
        finally:
            self._context.pop()
        return out

    def close(self) -> None:
        self._context.push()
        try:
            self._dev_in.free()
            self._dev_out.free()
            del self._exec
            del self._engine
        finally:
            self._context.pop()
            self._context.detach()
