"""A TensorRT engine is a cache of one ONNX model on one device.

Beside ``model.engine`` lies ``model.engine.json``: the SHA-256 of the ONNX file it was built
from, the TensorRT version, the GPU and its compute capability, the precision and the batch
profile. An engine is only used when all of these match the running device; otherwise it is
rebuilt (when allowed) or refused with a message that says which fact differs and how to rebuild.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.checksum import sha256_file

SIDECAR_FORMAT = 1
PRECISIONS = ("fp16", "int8", "fp32")
MAX_BATCH_LIMIT = 64


class EngineMismatch(RuntimeError):
    """An engine on disk does not fit this model or device; ``reasons`` lists each difference."""

    def __init__(self, engine: Path, reasons: list[str], rebuild_hint: str) -> None:
        self.engine = engine
        self.reasons = reasons
        super().__init__(
            f"TensorRT engine {engine} cannot be used here: " + "; ".join(reasons) + f". Rebuild it: {rebuild_hint}"
        )


@dataclass(frozen=True)
class Profile:
    """The optimization profile of the input's batch dimension: 1..max faces per frame."""

    input_name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def batch_profile(input_name: str, input_shape: list[int], max_batch: int) -> Profile:
    """Profile for batches of 1..``max_batch`` faces; tuned (``opt``) for the common case of a
    few faces, so a single face is not padded up to the worst case."""
    if not 1 <= max_batch <= MAX_BATCH_LIMIT:
        raise ValueError(f"max batch must be within 1..{MAX_BATCH_LIMIT}, got {max_batch}")
    if len(input_shape) != 4 or any(d <= 0 for d in input_shape[1:]):
        raise ValueError(f"input shape {input_shape} is not [batch, channels, height, width]")
    rest = tuple(int(d) for d in input_shape[1:])
    return Profile(input_name, (1, *rest), (min(max_batch, 4), *rest), (max_batch, *rest))


@dataclass(frozen=True)
class DeviceFacts:
    tensorrt_version: str
    gpu_name: str
    compute_capability: str


@dataclass
class Sidecar:
    onnx_file: str
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    profile: dict[str, Any]
    workspace_mib: int
    built_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    build_seconds: float = 0.0
    format: int = SIDECAR_FORMAT

    @property
    def max_batch(self) -> int:
        return int(self.profile["max"][0])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Sidecar:
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path} is not an engine sidecar ({exc})") from exc


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def mismatches(sidecar: Sidecar, onnx_sha256: str, device: DeviceFacts, precision: str, max_batch: int) -> list[str]:
    """Every reason the engine described by ``sidecar`` must not run here (empty: it may)."""
    reasons = []
    if sidecar.format != SIDECAR_FORMAT:
        reasons.append(f"sidecar format {sidecar.format}, this version writes {SIDECAR_FORMAT}")
    if sidecar.onnx_sha256 != onnx_sha256:
        reasons.append(
            f"it was built from another ONNX file ({sidecar.onnx_file}, sha256 {sidecar.onnx_sha256[:12]}…; "
            f"the model now is {onnx_sha256[:12]}…)"
        )
    if sidecar.tensorrt_version != device.tensorrt_version:
        reasons.append(
            f"TensorRT {sidecar.tensorrt_version} built it, this device has TensorRT {device.tensorrt_version}"
        )
    if sidecar.gpu_name != device.gpu_name or sidecar.compute_capability != device.compute_capability:
        reasons.append(
            f"it was built on {sidecar.gpu_name} (compute {sidecar.compute_capability}), "
            f"this GPU is {device.gpu_name} (compute {device.compute_capability})"
        )
    if sidecar.precision != precision:
        reasons.append(f"its precision is {sidecar.precision}, {precision} was asked for")
    if sidecar.max_batch < max_batch:
        reasons.append(f"it takes at most {sidecar.max_batch} faces per batch, the loop needs {max_batch}")
    return reasons


def rebuild_command(onnx_path: Path, engine: Path, precision: str, max_batch: int) -> str:
    return (
        f"emotion-edge export engine {onnx_path} --precision {precision} --max-batch {max_batch} --out {engine} "
        "(or set model.rebuild_engine = true to rebuild on start)"
    )


def check_engine(engine: Path, onnx_path: Path, device: DeviceFacts, precision: str, max_batch: int) -> Sidecar:
    """Return the engine's sidecar if the engine may run here; raise ``EngineMismatch`` otherwise."""
    hint = rebuild_command(onnx_path, engine, precision, max_batch)
    if not engine.is_file():
        raise EngineMismatch(engine, ["there is no engine file"], hint)
    try:
        sidecar = Sidecar.load(sidecar_path(engine))
    except FileNotFoundError:
        raise EngineMismatch(engine, [f"its sidecar {sidecar_path(engine).name} is missing"], hint) from None
    except ValueError as exc:
        raise EngineMismatch(engine, [str(exc)], hint) from exc
    reasons = mismatches(sidecar, sha256_file(onnx_path), device, precision, max_batch)
    if reasons:
        raise EngineMismatch(engine, reasons, hint)
    return sidecar
