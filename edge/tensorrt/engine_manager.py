"""Finds, checks and (when allowed) rebuilds the TensorRT engine for a model on this device."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.model_meta import ModelInfo
from edge.tensorrt.engine_cache import EngineMismatch, batch_profile, check_engine

log = logging.getLogger(__name__)


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
        log.warning("rebuilding the TensorRT engine: %s", "; ".join(exc.reasons))
    from edge.tensorrt.build import build_engine

    profile = batch_profile(info.input_name, info.input_shape, max_batch)
    timing_cache = engine_path.with_name("timing.cache")
    build_engine(onnx_path, engine_path, precision, profile, device, workspace_mib, timing_cache)
    return engine_path
