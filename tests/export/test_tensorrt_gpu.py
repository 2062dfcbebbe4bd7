"""TensorRT on a real GPU: built engines agree with ONNX Runtime. Skipped (with the reason) where
TensorRT, pycuda or a GPU is missing, as on the CPU CI machines."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edge.tensorrt.support import tensorrt_unavailable_reason

REASON = tensorrt_unavailable_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=f"needs TensorRT on a GPU: {REASON}")]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_engine_agrees_with_onnxruntime_and_runs_any_batch_from_a_worker_thread(
    shipped_model: Path, fer, tmp_path: Path, precision: str
) -> None:
    from edge.classify import OnnxRuntimeClassifier
    from edge.tensorrt.backend import TensorRTClassifier
    from edge.tensorrt.engine_manager import ensure_engine
    from export.quantize import quantize_int8

    model = shipped_model
    if precision == "int8":
        model = tmp_path / "int8.onnx"
        quantize_int8(shipped_model, model, fer.split("train")[0][:512])
    reference = OnnxRuntimeClassifier(model)
    engine = ensure_engine(model, reference.info, tmp_path / f"m.{precision}.engine", precision, 8, rebuild=True)
    faces = fer.split("val")[0][:64]
    results: dict[int, np.ndarray] = {}

    def work() -> None:  # the device loop calls the backend from its own thread
        trt = TensorRTClassifier(engine, reference.info, 8)
        try:
            for n in (1, 3, 8, 13):
                results[n] = trt.predict(faces[:n])
        finally:
            trt.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    for n, probs in results.items():
        expected = reference.predict(faces[:n])
        assert probs.shape == expected.shape
        assert (probs.argmax(1) == expected.argmax(1)).mean() >= 0.9
        assert np.abs(probs - expected).max() < 0.05
