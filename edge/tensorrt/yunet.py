"""YuNet on TensorRT: its engine (FP16, built on the device, cached beside the model) and a runner.

The engine takes any padded input from 32 x 32 up to ``max_side`` (both sides rounded up to 32),
tuned for a 4:3 landscape frame, the common camera; a larger ``detector.max_side`` than the cached
engine takes rebuilds it. FP16 where this TensorRT has the flag (8.6, 10.x); TensorRT 11 builds only
strongly typed networks, so there the FP32 file gives an FP32 engine. The runner is an
``EngineSession`` as the classifier's backend is (edge.tensorrt.backend): the GPU's primary context
retained and pushed around each call, every TensorRT call that reports failure by its result
checked, the engine's tensors checked before the first frame, everything released in reverse order
with the context current, also after a failed load. Buffers are allocated once, for the largest input; each frame
sets the input's shape and reads each output's resolved shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pycuda.driver as cuda
import tensorrt as trt

from edge.checksum import sha256_file
from edge.tensorrt.backend import EngineLoadError, EngineSession, _dims, device_facts
from edge.tensorrt.build import build_engine, timing_cache_path
from edge.tensorrt.engine_cache import EngineMismatch, Profile, Sidecar, mismatches, sidecar_path
from edge.tensorrt.engine_manager import default_engine_path
from edge.yunet_decode import INPUT_NAME, OUTPUT_NAMES, WIDTHS, padded_size

log = logging.getLogger(__name__)

REBUILD = (
    "delete it (and its .json), and start with model.rebuild_engine = true: the detector's engine is built on start"
)


def detector_profile(max_side: int) -> Profile:
    """Inputs from 32 x 32 to ``max_side`` x ``max_side`` (padded), tuned (``opt``) for 4:3 landscape."""
    side = padded_size(max_side, max_side)[0]
    opt_w, opt_h = padded_size(max_side, max(1, round(max_side * 3 / 4)))
    return Profile(INPUT_NAME, (1, 3, 32, 32), (1, 3, opt_h, opt_w), (1, 3, side, side))


def detector_precision() -> str:
    """FP16 where this TensorRT can be asked for it; FP32 on TensorRT 11 (strongly typed only)."""
    return "fp16" if hasattr(trt.BuilderFlag, "FP16") else "fp32"


def profile_problems(sidecar: Sidecar, wanted: Profile) -> list[str]:
    """Why a cached engine's input profile cannot take this ``detector.max_side`` (empty: it can)."""
    profile = sidecar.profile
    if profile.get("input") != wanted.input_name:
        return [f"its input is {profile.get('input')!r}, YuNet's is {wanted.input_name!r}"]
    high = [int(d) for d in profile.get("max", [])]
    if len(high) != 4 or high[2] < wanted.max[2] or high[3] < wanted.max[3]:
        return [f"it takes inputs up to {high[2:]} pixels, detector.max_side needs {list(wanted.max[2:])}"]
    return []


def ensure_detector_engine(
    onnx_path: Path,
    max_side: int,
    engine_dir: Path | None = None,
    rebuild: bool = True,
    while_building: Callable[[Path], AbstractContextManager[object]] | None = None,
    workspace_mib: int = 256,
) -> tuple[Path, str]:
    """The detector's engine for this model and device, built when it is missing or stale and
    ``rebuild`` allows; else ``EngineMismatch`` saying why. Returns the engine and its precision."""
    precision = detector_precision()
    engine = default_engine_path(onnx_path, precision, engine_dir)
    profile = detector_profile(max_side)
    device = device_facts()
    reasons = ["there is no engine file"]
    if engine.is_file():
        try:
            sidecar = Sidecar.load(sidecar_path(engine))
            reasons = mismatches(sidecar, sha256_file(onnx_path), device, precision, 1) + profile_problems(
                sidecar, profile
            )
        except FileNotFoundError:
            reasons = [f"its sidecar {sidecar_path(engine).name} is missing"]
        except ValueError as exc:
            reasons = [str(exc)]
    if not reasons:
        return engine, precision
    if not rebuild:
        raise EngineMismatch(engine, reasons, REBUILD)
    first = reasons == ["there is no engine file"]
    log.log(
        logging.INFO if first else logging.WARNING,
        "building the detector's TensorRT engine %s (minutes on a Jetson): %s",
        engine,
        "; ".join(reasons),
    )
    with (while_building or (lambda _path: nullcontext()))(engine):
        build_engine(
            onnx_path, engine, precision, profile, device, workspace_mib, timing_cache_path(engine.parent, device)
        )
    return engine, precision


def output_anchors(name: str, width: int, height: int) -> tuple[int, int]:
    """(anchors, values per anchor) of output ``name`` for a padded ``width`` x ``height`` input."""
    part, stride = name.split("_")
    s = int(stride)
    return (width // s) * (height // s), WIDTHS[part]


def check_detector_io(engine: trt.ICudaEngine, max_side: int, engine_path: Path) -> None:
    """The engine's tensors are YuNet's: one float input [1, 3, H, W] taking ``max_side``, twelve float outputs."""
    rebuild = f"delete {engine_path} (and its .json) to rebuild it from the model"
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    problems = []
    if sorted(names) != sorted([INPUT_NAME, *OUTPUT_NAMES]):
        problems.append(f"its tensors are {names}, YuNet's are {[INPUT_NAME, *OUTPUT_NAMES]}")
    else:
        for name in names:
            mode = trt.TensorIOMode.INPUT if name == INPUT_NAME else trt.TensorIOMode.OUTPUT
            if engine.get_tensor_mode(name) != mode:
                problems.append(f"{name} is not an {mode.name.lower()}")
            if engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                problems.append(f"{name} is {engine.get_tensor_dtype(name).name}, not FLOAT")
        shape = _dims(engine.get_tensor_shape(INPUT_NAME))
        if len(shape) != 4 or shape[:2] != [1, 3]:
            problems.append(f"input shape {shape}, YuNet's is [1, 3, H, W]")
        else:
            high = _dims(engine.get_tensor_profile_shape(INPUT_NAME, 0)[2])
            side = padded_size(max_side, max_side)[0]
            if high[2] < side or high[3] < side:
                problems.append(f"it takes inputs up to {high[2:]} pixels, detector.max_side needs {[side, side]}")
    if problems:
        raise EngineLoadError(f"TensorRT engine {engine_path} is not YuNet's: " + "; ".join(problems) + f"; {rebuild}")


class TensorRTYuNet(EngineSession):
    """Runs YuNet's engine on one padded blob: ``runner(blob) -> {output name: values}``."""

    backend = "tensorrt"

    def __init__(self, engine_path: Path, max_side: int, device_index: int = 0) -> None:
        self.reason = f"TensorRT {trt.__version__} engine {engine_path}"
        side = padded_size(max_side, max_side)[0]
        self.max_side = max_side
        self.max_shape = (1, 3, side, side)
        self._host: dict[str, npt.NDArray[np.float32]] = {}
        self._dev: dict[str, Any] = {}
        super().__init__(engine_path, device_index)

    def _check(self, engine: trt.ICudaEngine, engine_path: Path) -> None:
        check_detector_io(engine, self.max_side, engine_path)

    def _allocate(self, context: trt.IExecutionContext, engine_path: Path) -> None:
        _, _, height, width = self.max_shape
        sizes = {INPUT_NAME: 3 * height * width}
        for name in OUTPUT_NAMES:
            anchors, values = output_anchors(name, width, height)
            sizes[name] = anchors * values
        for name, size in sizes.items():
            self._host[name] = self._pinned_buffer((size,))
            self._dev[name] = self._device_buffer(self._host[name].nbytes)
            self._bind(context, name, self._dev[name], engine_path)

    def _forget_buffers(self) -> None:
        self._host.clear()
        self._dev.clear()

    def __call__(self, blob: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        shape = tuple(int(d) for d in blob.shape)
        if len(shape) != 4 or shape[:2] != (1, 3) or shape[2] > self.max_shape[2] or shape[3] > self.max_shape[3]:
            raise ValueError(f"YuNet's engine takes [1, 3, H, W] up to {list(self.max_shape)}, not {list(shape)}")
        sizes = {name: output_anchors(name, shape[3], shape[2]) for name in OUTPUT_NAMES}
        execution = self._running()
        try:
            if not execution.set_input_shape(INPUT_NAME, shape):
                raise RuntimeError(f"TensorRT refused the input shape {shape}")
            host_in = self._host[INPUT_NAME][: blob.size]
            host_in[:] = blob.ravel()
            cuda.memcpy_htod_async(self._dev[INPUT_NAME], host_in, self._stream)
            if not execution.execute_async_v3(self._stream.handle):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            for name, (anchors, values) in sizes.items():
                dims = _dims(execution.get_tensor_shape(name))
                if dims != [1, anchors, values]:
                    raise RuntimeError(f"TensorRT gave {name} the shape {dims}, YuNet's is {[1, anchors, values]}")
                cuda.memcpy_dtoh_async(self._host[name][: anchors * values], self._dev[name], self._stream)
            self._stream.synchronize()
            return {
                name: self._host[name][: anchors * values].reshape(1, anchors, values).copy()
                for name, (anchors, values) in sizes.items()
            }
        finally:
            cuda.Context.pop()
