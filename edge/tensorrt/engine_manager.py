"""Finds, checks and (when allowed) rebuilds the TensorRT engine for a model on this device."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from edge.model_meta import ModelInfo
from edge.tensorrt.engine_cache import EngineMismatch, batch_profile, check_engine

log = logging.getLogger(__name__)

# Called around an engine build (minutes on a Jetson): the service uses it to tell systemd the
# start is still making progress (EXTEND_TIMEOUT_USEC) and to show it in its STATUS line.
BuildWatch = Callable[[Path], AbstractContextManager[object]]


def default_engine_path(onnx_path: Path, precision: str, state_dir: Path | None = None) -> Path:
    """``<state_dir or model dir>/<model stem>.<precision>.engine``."""
    return (state_dir or onnx_path.parent) / f"{onnx_path.stem}.{precision}.engine"


def ensure_engine(
    onnx_path: Path,
    info: ModelInfo,
    engine_path: Path,
    precision: str,
    max_batch: int,
    rebuild: bool,
    workspace_mib: int = 256,
    while_building: BuildWatch | None = None,
) -> Path:
    """Return an engine that matches this model and device, building it if it is missing or
    stale and ``rebuild`` allows; otherwise raise ``EngineMismatch`` saying why."""
    from edge.tensorrt.backend import device_facts

    device = device_facts()
    try:
        check_engine(engine_path, onnx_path, device, precision, max_batch)
        return engine_path
    except EngineMismatch as exc:
        if not rebuild:
            raise
        first = exc.reasons == ["there is no engine file"]  # a first start, not a problem
        log.log(
            logging.INFO if first else logging.WARNING,
            "building the TensorRT engine %s (minutes on a Jetson): %s",
            engine_path,
            "; ".join(exc.reasons),
        )
    from edge.tensorrt.build import build_engine, timing_cache_path

    profile = batch_profile(info.input_name, info.input_shape, max_batch)
    timing_cache = timing_cache_path(engine_path.parent, device)
    with (while_building or (lambda _path: nullcontext()))(engine_path):
        build_engine(onnx_path, engine_path, precision, profile, device, workspace_mib, timing_cache)
    return engine_path
