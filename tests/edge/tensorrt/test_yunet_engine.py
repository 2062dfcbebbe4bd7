"""YuNet's TensorRT engine: built FP16 (FP32 on TensorRT 11) for inputs up to detector.max_side, cached
beside the model and reused while it fits; every load failure falls back (``yunet-auto``) or refuses
(``yunet-tensorrt``) after freeing what was allocated.

``tensorrt`` and ``pycuda.driver`` are stand-ins (tests/edge/tensorrt/standin.py), used only for the
builder's flags and the load failures; the YuNet file, OpenCV's FaceDetectorYN it falls back to,
the engine cache and its sidecar are real. Running the engine is checked on a Jetson by
`make jetson-acceptance` (its detector step).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from edge.detect import DetectorError, YuNetDetector, create_detector
from edge.tensorrt.engine_cache import EngineMismatch, Sidecar, sidecar_path
from edge.yunet_decode import INPUT_NAME, OUTPUT_NAMES
from edge.yunet_net import DetectorEngine
from tests.edge.tensorrt import standin as module
from tests.edge.tensorrt.standin import Record, standin

pytestmark = pytest.mark.shared


def yunet_spec(max_side: int = 320) -> dict[str, object]:
    """What YuNet's engine says of its tensors (TensorRT's -1 for the dynamic sizes)."""
    tensors: dict[str, object] = {INPUT_NAME: {"mode": "INPUT", "dtype": "FLOAT", "shape": [1, 3, -1, -1]}}
    for name in OUTPUT_NAMES:
        width = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}[name.split("_")[0]]
        tensors[name] = {"mode": "OUTPUT", "dtype": "FLOAT", "shape": [1, -1, width]}
    return {"tensors": tensors, "profile": [[1, 3, 32, 32], [1, 3, 256, 320], [1, 3, max_side, max_side]]}


def ensure(tmp_path: Path, yunet: Path, max_side: int = 320, rebuild: bool = True) -> tuple[Path, str]:
    from edge.tensorrt.yunet import ensure_detector_engine

    return ensure_detector_engine(yunet, max_side, tmp_path, rebuild)


def assert_all_released(record: Record) -> None:
    assert record.retained == 0 and record.context_depth == 0 and record.allocations == 0


@pytest.mark.parametrize(
    ("version", "precision", "flags"),
    [("8.6.2", "fp16", ["FP16"]), ("10.3.0", "fp16", ["FP16"]), ("11.0.0", "fp32", [])],
)
def test_the_engine_is_fp16_where_tensorrt_has_the_flag_for_inputs_up_to_max_side(
    version: str, precision: str, flags: list[str], yunet_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with standin(monkeypatch, version) as record:
        engine, chosen = ensure(tmp_path, yunet_model, max_side=300)
    assert chosen == precision and engine == tmp_path / f"face_detection_yunet.{precision}.engine"
    assert record.builder_flags == flags
    sidecar = Sidecar.load(sidecar_path(engine))
    assert sidecar.precision == precision and sidecar.onnx_file == "face_detection_yunet.onnx"
    # Padded to 32: 300 x 300 becomes 320 x 320, a 4:3 frame 320 x 256 (the common camera).
    assert sidecar.profile == {
        "input": "input",
        "min": [1, 3, 32, 32],
        "opt": [1, 3, 256, 320],
        "max": [1, 3, 320, 320],
    }


def test_a_cached_engine_is_reused_while_it_fits_and_rebuilt_for_a_larger_max_side(
    yunet_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with standin(monkeypatch) as record:
        engine, _ = ensure(tmp_path, yunet_model, 320)
        built = len(record.networks)
        assert ensure(tmp_path, yunet_model, 256)[0] == engine and len(record.networks) == built
        with pytest.raises(EngineMismatch, match=r"takes inputs up to \[320, 320\] pixels, detector.max_side needs"):
            ensure(tmp_path, yunet_model, 640, rebuild=False)
        with caplog.at_level(logging.WARNING):
            ensure(tmp_path, yunet_model, 640)
        assert len(record.networks) > built and "takes inputs up to [320, 320]" in caplog.text
    assert Sidecar.load(sidecar_path(engine)).profile["max"] == [1, 3, 640, 640]


def test_an_engine_of_another_model_is_rebuilt(
    yunet_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with standin(monkeypatch):
        engine, _ = ensure(tmp_path, yunet_model)
        sidecar = Sidecar.load(sidecar_path(engine))
        sidecar.onnx_sha256 = "0" * 64
        sidecar.save(sidecar_path(engine))
        with pytest.raises(EngineMismatch, match=r"built from another ONNX file.*model.rebuild_engine = true"):
            ensure(tmp_path, yunet_model, rebuild=False)
        ensure(tmp_path, yunet_model)
    assert Sidecar.load(sidecar_path(engine)).onnx_sha256 != "0" * 64


FAILURES = {
    # what goes wrong: what the reason says
    "mem_alloc": r"CUDA error \(MemoryError: cuMemAlloc failed",
    "set_tensor_address": r"TensorRT refused the device buffer for 'input'",
    "stream": r"CUDA error \(MemoryError: cuStreamCreate failed",
    "push": r"CUDA error \(LogicError: cuCtxPushCurrent failed",
    "the classifier's engine": r"is not YuNet's: its tensors are \['input', 'probabilities'\]",
    "an engine that cannot run": r"loads but cannot detect",
}


def arrange(kind: str, record: Record, monkeypatch: pytest.MonkeyPatch) -> None:
    if kind == "the classifier's engine":
        return  # the stand-in builds the classifier's tensors unless told otherwise
    monkeypatch.setattr(module, "ENGINE_SPEC", yunet_spec())
    if kind != "an engine that cannot run":  # the stand-in cannot execute: the first detection fails
        record.fail = kind


@pytest.mark.parametrize("kind", list(FAILURES))
def test_yunet_auto_falls_back_to_facedetectoryn_after_freeing_and_says_why(
    kind: str, yunet_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with standin(monkeypatch) as record:
        arrange(kind, record, monkeypatch)
        with caplog.at_level(logging.WARNING):
            detector = create_detector("yunet-auto", yunet_model, engine=DetectorEngine(tmp_path))
        assert_all_released(record)
    assert isinstance(detector, YuNetDetector) and detector.backend == "opencv"
    assert detector.reason.startswith("TensorRT failed: ")
    assert re.search(FAILURES[kind], detector.reason), detector.reason
    assert "using OpenCV's FaceDetectorYN. Fix: " in caplog.text


@pytest.mark.parametrize("kind", list(FAILURES))
def test_yunet_tensorrt_refuses_to_start_after_freeing_and_says_why(
    kind: str, yunet_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with standin(monkeypatch) as record:
        arrange(kind, record, monkeypatch)
        with pytest.raises(DetectorError, match=r"^detector.kind = 'yunet-tensorrt': ") as err:
            create_detector("yunet-tensorrt", yunet_model, engine=DetectorEngine(tmp_path))
        assert_all_released(record)
    assert re.search(FAILURES[kind], str(err.value))


def test_the_pipeline_caches_the_detectors_engine_where_the_classifiers_goes(
    device_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from edge.pipeline import build_pipeline

    engines = tmp_path / "state"
    with standin(monkeypatch) as record:
        monkeypatch.setattr(module, "ENGINE_SPEC", yunet_spec())
        config = device_config(
            detector={"kind": "yunet-auto"}, model={"backend": "onnxruntime", "engine_dir": str(engines)}
        )
        pipeline = build_pipeline(config)
        assert_all_released(record)
    # Built in model.engine_dir (the service's state directory), not beside the model in ../shared.
    assert (engines / "face_detection_yunet.fp16.engine").is_file()
    assert pipeline.detector.backend == "opencv"  # the stand-in cannot execute it: the fallback says so
    assert "loads but cannot detect" in pipeline.detector.reason  # type: ignore[attr-defined]


def test_the_pipeline_keeps_model_rebuild_engine_for_the_detector(
    device_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from edge.pipeline import build_pipeline

    config = device_config(
        detector={"kind": "yunet-auto"},
        model={"backend": "onnxruntime", "engine_dir": str(tmp_path), "rebuild_engine": False},
    )
    with standin(monkeypatch) as record:
        pipeline = build_pipeline(config)
        assert record.networks == []  # nothing was built
    assert "there is no engine file" in pipeline.detector.reason  # type: ignore[attr-defined]
