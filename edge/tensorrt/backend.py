"""The ``tensorrt`` classifier backend: a deserialized engine, pycuda buffers and one stream.

No ``pycuda.autoinit``: the backend retains the GPU's primary context and pushes it around every
call, so it works from whichever thread runs the loop, and pops it again so other CUDA users
(a second model, a video decoder) are not disturbed.

Every TensorRT call that reports failure by its return value (``set_tensor_address``,
``set_input_shape``, ``execute_async_v3``, ``deserialize_cuda_engine``) is checked, and the engine's
inputs and outputs are checked against the model's metadata before the first frame. Resources are
released in reverse order of creation, with the context current: the stream's work finished, the
device buffers, the pinned host buffers, the execution context, the engine, the runtime, the
stream, and only then the context itself is popped and released. A failed load releases what it
had allocated the same way (on a Jetson the retained context alone holds hundreds of MB of the
memory the CPU shares with the GPU).
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


class EngineLoadError(RuntimeError):
    """The engine cannot serve this model here; the message says why and how to fix it."""


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


def _dims(shape: Any) -> list[int]:
    return [int(d) for d in shape]


def check_engine_io(engine: trt.ICudaEngine, info: ModelInfo, max_batch: int, engine_path: Path) -> None:
    """The engine's I/O tensors are the model's: names, directions, float32, shapes, batch range."""
    rebuild = f"delete {engine_path} (and its .json) to rebuild it from the model"
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    expected = {info.input_name: trt.TensorIOMode.INPUT, info.output_name: trt.TensorIOMode.OUTPUT}
    problems = []
    if sorted(names) != sorted(expected):
        problems.append(f"its tensors are {names}, the model's are {list(expected)}")
    else:
        for name, mode in expected.items():
            if engine.get_tensor_mode(name) != mode:
                problems.append(f"{name} is not an {mode.name.lower()}")
            if engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                problems.append(f"{name} is {engine.get_tensor_dtype(name).name}, not FLOAT")
        in_shape = _dims(engine.get_tensor_shape(info.input_name))
        want = [int(d) for d in info.input_shape[1:]]
        if len(in_shape) != len(info.input_shape) or in_shape[1:] != want:
            problems.append(f"input shape {in_shape}, the model's is {info.input_shape}")
        else:
            low, _opt, high = (_dims(s) for s in engine.get_tensor_profile_shape(info.input_name, 0))
            if low[0] > 1 or high[0] < max_batch:
                problems.append(f"its batch range is {low[0]}..{high[0]}, the loop needs 1..{max_batch}")
        out_shape = _dims(engine.get_tensor_shape(info.output_name))
        if len(out_shape) != 2 or out_shape[1] != len(info.classes):
            problems.append(f"output shape {out_shape}, the model has {len(info.classes)} classes")
    if problems:
        raise EngineLoadError(
            f"TensorRT engine {engine_path} does not match the model: " + "; ".join(problems) + f"; {rebuild}"
        )


class EngineSession:
    """One deserialized engine with its execution context, stream and buffers, on the GPU's primary
    context: retained for the session's life, made current around each use and popped after.
    A subclass checks the engine's tensors (``_check``) and allocates its buffers (``_allocate``,
    through ``_buffer``); everything is released in reverse order of creation (``close``)."""

    def __init__(self, engine_path: Path, device_index: int = 0) -> None:
        self._context: Any = None
        self._runtime: trt.Runtime | None = None
        self._engine: trt.ICudaEngine | None = None
        self._exec: trt.IExecutionContext | None = None
        self._stream: Any = None
        self._device: list[Any] = []  # device buffers, in order of allocation
        self._pinned: list[npt.NDArray[np.float32]] = []  # pinned host buffers, likewise
        self._logger = _Logger()  # referenced by the runtime for its whole life
        cuda.init()
        context = cuda.Device(device_index).retain_primary_context()
        try:
            context.push()
        except BaseException:
            context.detach()  # retained but never made current: release it all the same
            raise
        self._context = context
        try:
            self._load(engine_path)
        except BaseException:
            self._release()  # frees what was allocated, pops and releases the context
            raise
        cuda.Context.pop()

    def _load(self, engine_path: Path) -> None:
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise EngineLoadError(
                f"TensorRT could not deserialize {engine_path} (built by another TensorRT or for another GPU?); "
                "delete it to rebuild it on this device"
            )
        self._engine = engine
        self._check(engine, engine_path)
        context = engine.create_execution_context()
        if context is None:
            raise EngineLoadError(
                f"TensorRT could not create an execution context for {engine_path} (out of GPU memory?)"
            )
        self._exec = context
        self._stream = cuda.Stream()
        self._allocate(context, engine_path)

    def _check(self, engine: trt.ICudaEngine, engine_path: Path) -> None:
        """Raise ``EngineLoadError`` when the engine's tensors are not the model's."""

    def _allocate(self, context: trt.IExecutionContext, engine_path: Path) -> None:
        """Allocate the buffers (``_buffer``) and bind them to the tensors."""

    def _pinned_buffer(self, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
        host: npt.NDArray[np.float32] = cuda.pagelocked_empty(shape, np.float32)
        self._pinned.append(host)
        return host

    def _device_buffer(self, nbytes: int) -> Any:
        buffer = cuda.mem_alloc(nbytes)
        self._device.append(buffer)
        return buffer

    @staticmethod
    def _bind(context: trt.IExecutionContext, name: str, buffer: Any, engine_path: Path) -> None:
        if not context.set_tensor_address(name, int(buffer)):
            raise EngineLoadError(f"TensorRT refused the device buffer for {name!r} of {engine_path}")

    def _running(self) -> trt.IExecutionContext:
        """The execution context, with the CUDA context pushed (the caller pops it in a finally)."""
        if self._exec is None:
            raise RuntimeError(f"the {type(self).__name__} is closed")
        self._context.push()
        return self._exec

    def close(self) -> None:
        """Release everything; safe to call twice."""
        if self._context is None:
            return
        self._context.push()
        self._release()

    def _release(self) -> None:
        """With the context current: free in reverse order of creation, then pop and release it."""
        try:
            if self._stream is not None:
                self._stream.synchronize()  # nothing may still be copying into the buffers
            while self._device:
                self._device.pop().free()
            while self._pinned:
                base = getattr(self._pinned.pop(), "base", None)
                if base is not None and hasattr(base, "free"):
                    base.free()  # the pinned allocation itself, not only our reference to it
            self._forget_buffers()
            self._exec = None  # TensorRT: the execution context before its engine,
            self._engine = None  # the engine before its runtime
            self._runtime = None
            self._stream = None
        finally:
            context, self._context = self._context, None
            cuda.Context.pop()
            context.detach()

    def _forget_buffers(self) -> None:
        """Drop the subclass's own references to the freed buffers."""


class TensorRTClassifier(EngineSession):
    backend = "tensorrt"

    def __init__(self, engine_path: Path, info: ModelInfo, max_batch: int, device_index: int = 0) -> None:
        self.info = info
        self.max_batch = max_batch
        self.reason = f"TensorRT {trt.__version__} engine {engine_path}"
        self._host_in: npt.NDArray[np.float32] | None = None
        self._host_out: npt.NDArray[np.float32] | None = None
        self._dev_in: Any = None
        self._dev_out: Any = None
        super().__init__(engine_path, device_index)

    def _check(self, engine: trt.ICudaEngine, engine_path: Path) -> None:
        check_engine_io(engine, self.info, self.max_batch, engine_path)

    def _allocate(self, context: trt.IExecutionContext, engine_path: Path) -> None:
        info = self.info
        self._host_in = self._pinned_buffer((self.max_batch, *info.input_shape[1:]))
        self._host_out = self._pinned_buffer((self.max_batch, len(info.classes)))
        self._dev_in = self._device_buffer(self._host_in.nbytes)
        self._dev_out = self._device_buffer(self._host_out.nbytes)
        for name, buffer in ((info.input_name, self._dev_in), (info.output_name, self._dev_out)):
            self._bind(context, name, buffer, engine_path)

    def _forget_buffers(self) -> None:
        self._host_in = self._host_out = self._dev_in = self._dev_out = None

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if self._exec is None or self._host_in is None or self._host_out is None:
            raise RuntimeError("the TensorRT classifier is closed")
        x = self.info.preprocessing.apply(crops)
        out = np.empty((len(x), len(self.info.classes)), dtype=np.float32)
        execution = self._running()
        try:
            for start in range(0, len(x), self.max_batch):
                chunk = x[start : start + self.max_batch]
                n = len(chunk)
                self._host_in[:n] = chunk
                if not execution.set_input_shape(self.info.input_name, tuple(chunk.shape)):
                    raise RuntimeError(f"TensorRT refused the input shape {tuple(chunk.shape)}")
                cuda.memcpy_htod_async(self._dev_in, self._host_in[:n], self._stream)
                if not execution.execute_async_v3(self._stream.handle):
                    raise RuntimeError("TensorRT execute_async_v3 failed")
                cuda.memcpy_dtoh_async(self._host_out[:n], self._dev_out, self._stream)
                self._stream.synchronize()
                out[start : start + n] = self._host_out[:n]
        finally:
            cuda.Context.pop()
        return self.info.calibrate(out)  # the same temperature, the same way, as ONNX Runtime
