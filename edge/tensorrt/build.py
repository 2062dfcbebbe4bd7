"""Builds a serialized TensorRT engine from an ONNX model (TensorRT 8.6 and 10.x).

This runs on the device (an engine is specific to its GPU and TensorRT version), from
``emotion-edge export engine`` or when the loop rebuilds a stale engine on start. Only
TensorRT's Python API is needed, no CUDA context of our own.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import tensorrt as trt

from edge.checksum import sha256_file
from edge.tensorrt.engine_cache import DeviceFacts, Profile, Sidecar, sidecar_path

log = logging.getLogger(__name__)


class EngineBuildError(RuntimeError):
    """The ONNX parser or the builder failed; the message names the node or the reason."""


class _BuildLogger(trt.ILogger):
    """Sends TensorRT's messages to our log and keeps them for the build log file."""

    def __init__(self) -> None:
        trt.ILogger.__init__(self)
        self.lines: list[str] = []

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        self.lines.append(f"[{severity.name}] {msg}")
        if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
            log.error("TensorRT: %s", msg)
        elif severity == trt.ILogger.Severity.WARNING:
            log.warning("TensorRT: %s", msg)
        else:
            log.debug("TensorRT: %s", msg)


def tensorrt_major() -> int:
    return int(str(trt.__version__).split(".")[0])


def _parse(builder: trt.Builder, logger: _BuildLogger, onnx_path: Path) -> trt.INetworkDefinition:
    # TensorRT 8.x needs the explicit-batch flag; 10.x is always explicit batch and deprecates it.
    flags = 0 if tensorrt_major() >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
        problems = []
        for i in range(parser.num_errors):
            error = parser.get_error(i)
            # node_name() and node_operator() exist from TensorRT 10; 8.6 only has the node index.
            node = error.node_name() if hasattr(error, "node_name") else f"#{error.node()}"
            op = error.node_operator() if hasattr(error, "node_operator") else "?"
            problems.append(f"node {node or '?'} ({op}): {error.desc()}")
        raise EngineBuildError(f"TensorRT's ONNX parser rejected {onnx_path}:\n  " + "\n  ".join(problems))
    return network


def _is_explicitly_quantized(network: trt.INetworkDefinition) -> bool:
    return any(network.get_layer(i).type == trt.LayerType.QUANTIZE for i in range(network.num_layers))


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    precision: str,
    profile: Profile,
    device: DeviceFacts,
    workspace_mib: int = 256,
    timing_cache: Path | None = None,
) -> Sidecar:
    """Build, write the engine, its sidecar and a build log (``<engine>.log``); return the sidecar."""
    start = time.perf_counter()
    logger = _BuildLogger()
    builder = trt.Builder(logger)
    network = _parse(builder, logger, onnx_path)
    quantized = _is_explicitly_quantized(network)
    if precision == "int8" and not quantized:
        raise EngineBuildError(
            f"{onnx_path} has no Q/DQ nodes: INT8 needs the quantized model (`emotion-edge export int8` writes it)"
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if precision in ("fp16", "int8"):
        # FP16 also covers the layers Q/DQ leaves unquantized (softmax, the classifier's tail).
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    trt_profile = builder.create_optimization_profile()
    trt_profile.set_shape(
        profile.input_name, trt.Dims(list(profile.min)), trt.Dims(list(profile.opt)), trt.Dims(list(profile.max))
    )
    config.add_optimization_profile(trt_profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"TensorRT could not build {onnx_path}; see {engine_path}.log for its messages")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    if timing_cache is not None:
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    sidecar = Sidecar(
        onnx_file=onnx_path.name,
        onnx_sha256=sha256_file(onnx_path),
        tensorrt_version=device.tensorrt_version,
        gpu_name=device.gpu_name,
        compute_capability=device.compute_capability,
        precision=precision,
        profile={
            "input": profile.input_name,
            "min": list(profile.min),
            "opt": list(profile.opt),
            "max": list(profile.max),
        },
        workspace_mib=workspace_mib,
        build_seconds=round(time.perf_counter() - start, 1),
    )
    sidecar.save(sidecar_path(engine_path))
    engine_path.with_name(engine_path.name + ".log").write_text("\n".join(logger.lines) + "\n")
    log.info(
        "built %s (%s, batch %s..%s) in %.0f s",
        engine_path,
        precision,
        profile.min[0],
        profile.max[0],
        sidecar.build_seconds,
    )
    return sidecar
