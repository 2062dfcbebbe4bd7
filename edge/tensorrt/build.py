"""Builds a serialized TensorRT engine from an ONNX model: TensorRT 8.6, 10.x and 11.x.

This runs on the device (an engine is specific to its GPU and TensorRT version), from
``emotion-edge export engine`` or when the loop rebuilds a stale engine on start. Only
TensorRT's Python API is needed, no CUDA context of our own.

How the network is built is chosen by what this TensorRT has (``plan_build``), never by a version
number alone:

============  =====================================  =========================================
TensorRT      INT8 from the Q/DQ model                FP16 from the FP32 model
============  =====================================  =========================================
8.6           weakly typed: EXPLICIT_BATCH network,  weakly typed: BuilderFlag.FP16
              BuilderFlag.INT8 + FP16
10.x          strongly typed network                 weakly typed: BuilderFlag.FP16
              (NetworkDefinitionCreationFlag
              .STRONGLY_TYPED), no precision flags
11.x          strongly typed (the only kind; the     refused: 11.x removed BuilderFlag.FP16;
              precision flags are gone)              an FP16 engine needs an FP16 ONNX model
============  =====================================  =========================================

An FP16 engine from the Q/DQ model is refused everywhere: TensorRT runs a Q/DQ network in INT8 (a
weakly typed build needs the INT8 flag, a strongly typed one follows the Q/DQ nodes), so it would
not be FP16; the message gives the command that builds FP16 from the FP32 model.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import tensorrt as trt

from edge.checksum import sha256_file
from edge.tensorrt.engine_cache import DeviceFacts, Profile, Sidecar, sidecar_path

log = logging.getLogger(__name__)

SUPPORTED = "TensorRT 8.6, 10.x and 11.x"


class EngineBuildError(RuntimeError):
    """The ONNX parser or the builder failed, or this precision cannot be built from this model
    with this TensorRT; the message names the node or the reason and the command that works."""


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


def tensorrt_version() -> tuple[int, int]:
    """(major, minor) of the TensorRT Python bindings in use."""
    match = re.match(r"(\d+)\.(\d+)", str(trt.__version__))
    if match is None:
        raise EngineBuildError(f"cannot read TensorRT's version from {trt.__version__!r}")
    return int(match.group(1)), int(match.group(2))


def tensorrt_major() -> int:
    return tensorrt_version()[0]


def check_supported() -> None:
    """Refuse TensorRT releases older than 8.6 (no ``set_input_shape``/``num_io_tensors`` API)."""
    version = tensorrt_version()
    if version < (8, 6):
        raise EngineBuildError(
            f"TensorRT {trt.__version__} is too old: emotion-edge supports {SUPPORTED} "
            "(JetPack 5.1.2+ has 8.6, JetPack 6 has 10.x)"
        )
    if version[0] > 11:
        log.warning(
            "TensorRT %s is newer than the releases emotion-edge was written for (%s)", trt.__version__, SUPPORTED
        )


def _has_flag(enum: object, name: str) -> bool:
    return hasattr(enum, name)


@dataclass(frozen=True)
class BuildPlan:
    """How to build: the network creation flags and builder flags, by name."""

    network_flags: tuple[str, ...]
    builder_flags: tuple[str, ...]

    @property
    def strongly_typed(self) -> bool:
        return "STRONGLY_TYPED" in self.network_flags or not _has_flag(trt.BuilderFlag, "FP16")


def _explicit_batch() -> tuple[str, ...]:
    """8.x must be asked for explicit batch (its ONNX parser needs it); 10.x ignores the deprecated
    flag and 11.x has none."""
    creation = trt.NetworkDefinitionCreationFlag
    return ("EXPLICIT_BATCH",) if tensorrt_major() < 10 and _has_flag(creation, "EXPLICIT_BATCH") else ()


def fp16_command(onnx_path: Path) -> str:
    fp32 = onnx_path.with_name(onnx_path.name.replace("int8", "fp32"))
    return f"emotion-edge export engine {fp32} --precision fp16"


def plan_build(precision: str, quantized: bool, onnx_path: Path) -> BuildPlan:
    """The network and builder flags for ``precision`` with this TensorRT, chosen by feature
    detection; ``EngineBuildError`` when this precision cannot be built from this model here."""
    has_precision_flags = _has_flag(trt.BuilderFlag, "FP16") and _has_flag(trt.BuilderFlag, "INT8")
    has_strong = _has_flag(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    explicit = _explicit_batch()
    if precision == "int8":
        if not quantized:
            raise EngineBuildError(
                f"{onnx_path} has no Q/DQ nodes: INT8 needs the quantized model (`emotion-edge export int8` writes it; "
                "the shipped one is models/emotion-edge-int8.onnx)"
            )
        if has_strong:
            return BuildPlan(("STRONGLY_TYPED",), ())
        if has_precision_flags:
            # FP16 also covers the layers Q/DQ leaves unquantized (softmax, the classifier's tail).
            return BuildPlan(explicit, ("INT8", "FP16"))
        return BuildPlan((), ())  # strongly typed is the only kind of network
    if precision == "fp16":
        if quantized:
            raise EngineBuildError(
                f"{onnx_path} is the INT8 (Q/DQ) model: TensorRT runs its Q/DQ layers in INT8, so it makes no "
                f"FP16 engine. Build FP16 from the FP32 model: {fp16_command(onnx_path)}; or INT8 from this one: "
                f"emotion-edge export engine {onnx_path} --precision int8"
            )
        if not _has_flag(trt.BuilderFlag, "FP16"):
            raise EngineBuildError(
                f"TensorRT {trt.__version__} builds only strongly typed networks (BuilderFlag.FP16 is gone), so an "
                f"FP16 engine needs an FP16 ONNX model, which emotion-edge does not ship. Use the INT8 engine: "
                f"emotion-edge export engine {onnx_path.with_name(onnx_path.name.replace('fp32', 'int8'))} "
                '--precision int8 (model.precision = "int8" with the INT8 model)'
            )
        return BuildPlan(explicit, ("FP16",))
    if precision == "fp32":
        return BuildPlan(explicit, ())
    raise EngineBuildError(f"precision {precision!r} is not one of int8, fp16, fp32")


def _network_flags(names: tuple[str, ...]) -> int:
    flags = 0
    for name in names:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return flags


def _parse(
    builder: trt.Builder, logger: _BuildLogger, onnx_path: Path, flags: int
) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    """The parsed network and its parser (which must outlive the network: it owns its weights)."""
    network = builder.create_network(flags)
    if network is None:
        raise EngineBuildError(f"TensorRT could not create a network (flags {flags:#x}) for {onnx_path}")
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
    return network, parser


def _is_explicitly_quantized(network: trt.INetworkDefinition) -> bool:
    return any(network.get_layer(i).type == trt.LayerType.QUANTIZE for i in range(network.num_layers))


def timing_cache_path(directory: Path, device: DeviceFacts) -> Path:
    """One timing cache per TensorRT version and GPU: a cache is only valid for both."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"trt{device.tensorrt_version}-sm{device.compute_capability}")
    return directory / f"timing-{safe}.cache"


def _attach_timing_cache(config: trt.IBuilderConfig, timing_cache: Path | None) -> None:
    data = b""
    if timing_cache is not None and timing_cache.is_file():
        data = timing_cache.read_bytes()
    cache = config.create_timing_cache(data)
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return
    if data:
        log.warning("TensorRT refused the timing cache %s (another TensorRT or GPU); starting a new one", timing_cache)
        cache = config.create_timing_cache(b"")
        if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
            return
    raise EngineBuildError("TensorRT could not attach a timing cache to the builder configuration")


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
    check_supported()
    start = time.perf_counter()
    logger = _BuildLogger()
    builder = trt.Builder(logger)
    # Parse once to see whether the model is explicitly quantized, then again if the plan asks for
    # other network flags (a network's flags are fixed when it is created).
    probe_flags = _network_flags(_explicit_batch())
    probe, probe_parser = _parse(builder, logger, onnx_path, probe_flags)
    quantized = _is_explicitly_quantized(probe)
    plan = plan_build(precision, quantized, onnx_path)
    flags = _network_flags(plan.network_flags)
    network, parser = (probe, probe_parser) if flags == probe_flags else _parse(builder, logger, onnx_path, flags)
    del probe, probe_parser
    log.info(
        "building a %s engine from %s with TensorRT %s: %s network%s",
        precision,
        onnx_path,
        trt.__version__,
        "strongly typed" if plan.strongly_typed else "weakly typed",
        f", flags {'+'.join(plan.builder_flags)}" if plan.builder_flags else "",
    )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    trt_profile = builder.create_optimization_profile()
    trt_profile.set_shape(
        profile.input_name, trt.Dims(list(profile.min)), trt.Dims(list(profile.opt)), trt.Dims(list(profile.max))
    )
    if config.add_optimization_profile(trt_profile) < 0:
        raise EngineBuildError(
            f"TensorRT rejected the batch profile {profile.min[0]}..{profile.max[0]} for input "
            f"{profile.input_name!r} of {onnx_path}"
        )
    _attach_timing_cache(config, timing_cache)

    serialized = builder.build_serialized_network(network, config)
    log_path = engine_path.with_name(engine_path.name + ".log")
    if serialized is None:
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("\n".join(logger.lines) + "\n")
        except OSError:
            pass
        raise EngineBuildError(f"TensorRT could not build {onnx_path}; see {log_path} for its messages")
    del parser
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    if timing_cache is not None:
        updated = config.get_timing_cache()
        if updated is not None:
            timing_cache.write_bytes(bytes(updated.serialize()))
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
    log_path.write_text("\n".join(logger.lines) + "\n")
    log.info(
        "built %s (%s, batch %s..%s) in %.0f s",
        engine_path,
        precision,
        profile.min[0],
        profile.max[0],
        sidecar.build_seconds,
    )
    return sidecar
