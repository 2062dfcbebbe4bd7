"""Every kind of TensorRT/CUDA load failure: ``auto`` falls back to ONNX Runtime after freeing what
was allocated, warns with the reason and the fix, and keeps the reason for the stats; ``tensorrt``
refuses to start with it. A loaded classifier releases its resources in the right order.

``tensorrt`` and ``pycuda.driver`` are stand-ins (tests/edge/tensorrt/standin.py); ONNX Runtime,
the shipped model, the engine cache and its sidecar are real.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from edge.classify import ClassifierError, EngineOptions, OnnxRuntimeClassifier, load_classifier
from tests.edge.tensorrt import standin as module
from tests.edge.tensorrt.standin import Record, standin

ROOT = Path(__file__).resolve().parents[3]
INT8 = ROOT / "models" / "emotion-edge-int8.onnx"


def options(engine_dir: Path, **kw: object) -> EngineOptions:
    return EngineOptions(engine_dir=engine_dir, **kw)  # type: ignore[arg-type]


def assert_all_released(record: Record) -> None:
    assert record.retained == 0, "the retained CUDA context was not released"
    assert record.context_depth == 0, "a CUDA context was left current"
    assert record.allocations == 0, "device or pinned memory was not freed"


def prepare(kind: str, record: Record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EngineOptions:
    """Arrange one kind of failure; return the engine options that meet it."""
    if kind in FAILING_CALLS:
        record.fail = kind
    elif kind in ("garbled engine", "engine of another model"):
        with standin(monkeypatch) as first:  # a good engine first, then spoil it
            assert first is not None
            load_classifier(INT8, "tensorrt", engine=options(tmp_path)).close()
        engine = tmp_path / "emotion-edge-int8.int8.engine"
        if kind == "garbled engine":
            engine.write_bytes(b"\x00not an engine")
        else:
            spec = json.loads(json.dumps(module.ENGINE_SPEC))
            spec["tensors"]["probabilities"]["shape"] = [-1, 6]
            engine.write_bytes(json.dumps(spec).encode())
    elif kind == "stale engine, rebuild off":
        return options(tmp_path, rebuild=False)
    elif kind == "fp16 from the Q/DQ model":
        return options(tmp_path, precision="fp16")
    elif kind == "unwritable engine dir":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the engine directory should be")
        return options(blocker / "engines")
    return options(tmp_path)


FAILING_CALLS = ("cuInit", "retain", "push", "stream", "mem_alloc", "set_tensor_address")
KINDS = {
    # kind: what the reason says
    "cuInit": r"CUDA does not initialise \(LogicError: cuInit failed",
    "retain": r"CUDA error \(LogicError: cuDevicePrimaryCtxRetain failed",
    "push": r"CUDA error \(LogicError: cuCtxPushCurrent failed",
    "stream": r"CUDA error \(MemoryError: cuStreamCreate failed",
    "mem_alloc": r"CUDA error \(MemoryError: cuMemAlloc failed",
    "set_tensor_address": r"TensorRT refused the device buffer for 'input'",
    "garbled engine": r"could not deserialize .*delete it to rebuild it",
    "engine of another model": r"does not match the model: output shape \[-1, 6\], the model has 7 classes",
    "stale engine, rebuild off": r"cannot be used here: there is no engine file. Rebuild it: emotion-edge export",
    "fp16 from the Q/DQ model": r"makes no FP16 engine",
    "unwritable engine dir": r"(FileExistsError|NotADirectoryError)",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_auto_falls_back_after_freeing_and_warns_with_the_reason_and_the_fix(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with standin(monkeypatch) as record:
        engine = prepare(kind, record, tmp_path, monkeypatch)
        with standin(monkeypatch) as record:
            record.fail = kind if kind in FAILING_CALLS else ""
            with caplog.at_level(logging.INFO, logger="edge.classify"):
                classifier = load_classifier(INT8, "auto", engine=engine)
    assert isinstance(classifier, OnnxRuntimeClassifier)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "edge.classify"]
    assert len(warnings) == 1, caplog.text
    message = warnings[0].getMessage()
    assert "using ONNX Runtime. Fix: " in message
    assert re.search(KINDS[kind], message), message
    # The reason travels with the classifier (stats payload, systemd STATUS).
    assert classifier.reason.startswith(("TensorRT failed: ", "TensorRT not used: "))
    assert "ONNX Runtime" in classifier.reason
    assert_all_released(record)


@pytest.mark.parametrize("kind", ["retain", "mem_alloc", "garbled engine", "stale engine, rebuild off"])
def test_the_tensorrt_backend_refuses_to_start_with_the_reason(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with standin(monkeypatch) as record:
        engine = prepare(kind, record, tmp_path, monkeypatch)
        with standin(monkeypatch) as record:
            record.fail = kind if kind in ("retain", "mem_alloc") else ""
            with pytest.raises(ClassifierError, match=r"model.backend=tensorrt: .*" + KINDS[kind]):
                load_classifier(INT8, "tensorrt", engine=engine)
    assert_all_released(record)


def test_the_tensorrt_backend_without_cuda_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with standin(monkeypatch) as record:
        record.fail = "cuInit"
        with pytest.raises(ClassifierError, match=r"cannot run here: CUDA does not initialise.*device nodes"):
            load_classifier(INT8, "tensorrt", engine=options(tmp_path))


def test_a_loaded_engine_is_used_and_released_in_reverse_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with standin(monkeypatch) as record:
        classifier = load_classifier(INT8, "auto", engine=options(tmp_path))
        assert classifier.backend == "tensorrt"
        assert classifier.reason.startswith("TensorRT 10.3.0 engine ")
        assert (tmp_path / "emotion-edge-int8.int8.engine").is_file()  # built on first start
        assert record.retained == 1 and record.context_depth == 0  # loaded, and not left current
        record.events.clear()
        classifier.close()
        assert record.events == [
            "push context",
            "synchronize stream",  # nothing may still be copying
            "free device memory",
            "free device memory",
            "free pinned memory",
            "free pinned memory",
            "destroy execution context",  # before its engine,
            "destroy engine",  # before its runtime
            "destroy runtime",
            "destroy stream",
            "pop context",  # and only then the context itself
            "release context",
        ]
        assert_all_released(record)
        classifier.close()  # twice is harmless
        with pytest.raises(RuntimeError, match="closed"):
            classifier.predict(__import__("numpy").zeros((1, 48, 48), "uint8"))
