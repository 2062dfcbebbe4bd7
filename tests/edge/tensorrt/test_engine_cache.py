"""An engine is used only on the device and model it was built for; otherwise it is refused with why."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.checksum import sha256_file
from edge.tensorrt.engine_cache import (
    DeviceFacts,
    EngineMismatch,
    Sidecar,
    batch_profile,
    check_engine,
    sidecar_path,
)

ORIN = DeviceFacts("10.3.0", "Orin", "8.7")


def built_engine(tmp_path: Path, onnx_bytes: bytes = b"model-a", **overrides: object) -> tuple[Path, Path]:
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(onnx_bytes)
    engine = tmp_path / "model.int8.engine"
    engine.write_bytes(b"serialized engine")
    fields = {
        "onnx_file": "model.onnx",
        "onnx_sha256": sha256_file(onnx_path),
        "tensorrt_version": "10.3.0",
        "gpu_name": "Orin",
        "compute_capability": "8.7",
        "precision": "int8",
        "profile": {"input": "input", "min": [1, 1, 48, 48], "opt": [4, 1, 48, 48], "max": [8, 1, 48, 48]},
        "workspace_mib": 256,
    }
    fields.update(overrides)
    Sidecar(**fields).save(sidecar_path(engine))  # type: ignore[arg-type]
    return onnx_path, engine


def test_a_matching_engine_is_accepted(tmp_path: Path) -> None:
    onnx_path, engine = built_engine(tmp_path)
    assert check_engine(engine, onnx_path, ORIN, "int8", 8).max_batch == 8


def test_a_changed_onnx_file_invalidates_the_engine(tmp_path: Path) -> None:
    onnx_path, engine = built_engine(tmp_path)
    onnx_path.write_bytes(b"model-b, retrained")
    with pytest.raises(EngineMismatch, match=r"built from another ONNX file .*emotion-edge export engine"):
        check_engine(engine, onnx_path, ORIN, "int8", 8)


@pytest.mark.parametrize(
    ("device", "precision", "max_batch", "reason"),
    [
        (DeviceFacts("8.6.2", "Orin", "8.7"), "int8", 8, r"TensorRT 10.3.0 built it, this device has TensorRT 8.6.2"),
        (DeviceFacts("10.3.0", "Xavier", "7.2"), "int8", 8, r"built on Orin \(compute 8.7\), this GPU is Xavier"),
        (ORIN, "fp16", 8, r"its precision is int8, fp16 was asked for"),
        (ORIN, "int8", 16, r"takes at most 8 faces per batch, the loop needs 16"),
    ],
)
def test_each_mismatch_is_named(
    tmp_path: Path, device: DeviceFacts, precision: str, max_batch: int, reason: str
) -> None:
    onnx_path, engine = built_engine(tmp_path)
    with pytest.raises(EngineMismatch, match=reason) as info:
        check_engine(engine, onnx_path, device, precision, max_batch)
    assert len(info.value.reasons) == 1


def test_every_difference_is_reported_at_once(tmp_path: Path) -> None:
    onnx_path, engine = built_engine(tmp_path)
    with pytest.raises(EngineMismatch) as info:
        check_engine(engine, onnx_path, DeviceFacts("8.6.2", "Xavier", "7.2"), "fp16", 8)
    assert len(info.value.reasons) == 3


def test_missing_engine_or_sidecar_is_refused(tmp_path: Path) -> None:
    onnx_path, engine = built_engine(tmp_path)
    sidecar_path(engine).unlink()
    with pytest.raises(EngineMismatch, match=r"sidecar model.int8.engine.json is missing"):
        check_engine(engine, onnx_path, ORIN, "int8", 8)
    with pytest.raises(EngineMismatch, match=r"there is no engine file"):
        check_engine(tmp_path / "none.engine", onnx_path, ORIN, "int8", 8)


def test_a_garbled_sidecar_is_refused(tmp_path: Path) -> None:
    onnx_path, engine = built_engine(tmp_path)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(EngineMismatch, match=r"is not an engine sidecar"):
        check_engine(engine, onnx_path, ORIN, "int8", 8)


def test_the_profile_spans_one_face_to_the_loops_maximum() -> None:
    profile = batch_profile("input", [-1, 1, 48, 48], 8)
    assert profile.min == (1, 1, 48, 48)
    assert profile.opt == (4, 1, 48, 48)
    assert profile.max == (8, 1, 48, 48)
    assert batch_profile("input", [-1, 1, 48, 48], 1).opt == (1, 1, 48, 48)
    with pytest.raises(ValueError, match=r"max batch must be within 1..64"):
        batch_profile("input", [-1, 1, 48, 48], 0)
    with pytest.raises(ValueError, match=r"is not \[batch, channels, height, width\]"):
        batch_profile("input", [-1, 48, 48], 4)
