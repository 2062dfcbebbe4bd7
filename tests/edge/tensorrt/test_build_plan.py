"""The engine builder picks its network and flags by what each TensorRT release has (8.6, 10.x, 11.x).

TensorRT cannot run here, so ``tensorrt`` is a stand-in (tests/edge/tensorrt/standin.py) exposing
each release's flags; the ONNX models are the shipped ones, the sidecar and files are real.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.tensorrt.engine_cache import DeviceFacts, Sidecar, batch_profile, sidecar_path
from tests.edge.tensorrt.standin import standin

ROOT = Path(__file__).resolve().parents[3]
FP32 = ROOT / "models" / "emotion-edge-fp32.onnx"
INT8 = ROOT / "models" / "emotion-edge-int8.onnx"
EXPLICIT_BATCH = 1 << 0  # NetworkDefinitionCreationFlag.EXPLICIT_BATCH == 0 in 8.6 and 10.x
STRONGLY_TYPED_10 = 1 << 1  # NetworkDefinitionCreationFlag.STRONGLY_TYPED == 1 in 10.x


def build(version: str, model: Path, precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with standin(monkeypatch, version) as record:
        from edge.tensorrt.build import build_engine, timing_cache_path

        device = DeviceFacts(version.split("-")[0], "Orin", "8.7")
        engine = tmp_path / f"m.{precision}.engine"
        sidecar = build_engine(
            model,
            engine,
            precision,
            batch_profile("input", [-1, 1, 48, 48], 8),
            device,
            timing_cache=timing_cache_path(tmp_path, device),
        )
        return record, sidecar, engine


@pytest.mark.parametrize(
    ("version", "networks", "flags"),
    [
        ("8.6.2", [EXPLICIT_BATCH], ["INT8", "FP16"]),  # weakly typed: 8.6 has no strong typing
        ("10.3.0", [0, STRONGLY_TYPED_10], []),  # strongly typed, no precision flags
        ("10.13.0", [0, STRONGLY_TYPED_10], []),
        ("11.0.0", [0, 1 << 0], []),  # the flag's value there is whatever the binding says
        ("11.4.0-noflag", [0], []),  # every 11.x network is strongly typed
    ],
)
def test_int8_from_the_qdq_model(
    version: str, networks: list[int], flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, sidecar, engine = build(version, INT8, "int8", tmp_path, monkeypatch)
    # The first network only finds out whether the model has Q/DQ nodes; the last is built.
    assert record.networks == networks
    assert record.builder_flags == flags
    assert engine.is_file() and Sidecar.load(sidecar_path(engine)) == sidecar
    assert sidecar.precision == "int8" and sidecar.tensorrt_version == version.split("-")[0]


@pytest.mark.parametrize(("version", "networks"), [("8.6.2", [EXPLICIT_BATCH]), ("10.3.0", [0]), ("10.13.0", [0])])
def test_fp16_from_the_fp32_model_where_the_flag_exists(
    version: str, networks: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, sidecar, _ = build(version, FP32, "fp16", tmp_path, monkeypatch)
    assert record.networks == networks
    assert record.builder_flags == ["FP16"]
    assert sidecar.precision == "fp16"


@pytest.mark.parametrize("version", ["11.0.0", "11.4.0-noflag"])
def test_fp16_on_tensorrt_11_is_refused_with_what_works(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RuntimeError, match=r"builds only strongly typed networks.*--precision int8") as info:
        build(version, FP32, "fp16", tmp_path, monkeypatch)
    assert type(info.value).__name__ == "EngineBuildError"
    assert not (tmp_path / "m.fp16.engine").exists()


@pytest.mark.parametrize("version", list(["8.6.2", "10.3.0", "11.0.0"]))
def test_fp16_from_the_qdq_model_is_refused_with_the_command_that_works(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        RuntimeError, match=r"INT8 \(Q/DQ\) model.*emotion-edge export engine \S+fp32.onnx --precision fp16"
    ):
        build(version, INT8, "fp16", tmp_path, monkeypatch)


def test_int8_from_a_model_without_qdq_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match=r"has no Q/DQ nodes.*emotion-edge export int8"):
        build("10.3.0", FP32, "int8", tmp_path, monkeypatch)


def test_tensorrt_older_than_8_6_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.edge.tensorrt import standin as module

    monkeypatch.setitem(module.RELEASES, "8.5.3", module.RELEASES["8.6.2"])
    with pytest.raises(
        RuntimeError, match=r"TensorRT 8.5.3 is too old: emotion-edge supports TensorRT 8.6, 10.x and 11.x"
    ):
        build("8.5.3", INT8, "int8", tmp_path, monkeypatch)


def test_the_timing_cache_is_kept_per_tensorrt_version_and_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    build("10.3.0", INT8, "int8", tmp_path, monkeypatch)
    cache = tmp_path / "timing-trt10.3.0-sm8.7.cache"
    assert cache.read_bytes() == b"+timed"
    # A cache TensorRT refuses (set_timing_cache returns False) is replaced, not ignored silently.
    cache.write_bytes(b"from another GPU")
    with caplog.at_level(logging.WARNING):
        build("10.3.0", INT8, "int8", tmp_path, monkeypatch)
    assert "refused the timing cache" in caplog.text
    assert cache.read_bytes() == b"+timed"
    build("8.6.2", INT8, "int8", tmp_path, monkeypatch)
    assert (tmp_path / "timing-trt8.6.2-sm8.7.cache").is_file()
