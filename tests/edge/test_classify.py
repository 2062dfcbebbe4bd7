"""Backend choice: ``tensorrt`` refuses to start without TensorRT, ``auto`` falls back and says why."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edge.classify import ClassifierError, OnnxRuntimeClassifier, load_classifier
from edge.tensorrt_support import tensorrt_unavailable_reason

NO_TENSORRT = tensorrt_unavailable_reason()


@pytest.mark.skipif(NO_TENSORRT is None, reason="TensorRT runs here: the fallback cannot be observed")
def test_auto_uses_onnxruntime_where_tensorrt_cannot_run_and_says_why(
    shipped_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="edge.classify"):
        classifier = load_classifier(shipped_model, "auto")
    assert isinstance(classifier, OnnxRuntimeClassifier)
    assert "TensorRT not used" in caplog.text and "using onnxruntime" in caplog.text


@pytest.mark.skipif(NO_TENSORRT is None, reason="TensorRT runs here")
def test_tensorrt_backend_without_tensorrt_is_a_clear_error(shipped_model: Path) -> None:
    with pytest.raises(ClassifierError, match=r"model.backend=tensorrt cannot run here: .*use onnxruntime or auto"):
        load_classifier(shipped_model, "tensorrt")


def test_an_unknown_backend_names_the_key(shipped_model: Path) -> None:
    with pytest.raises(ClassifierError, match=r"model.backend='openvino': choose auto, onnxruntime or tensorrt"):
        load_classifier(shipped_model, "openvino")


def test_all_faces_of_a_frame_go_through_in_one_batch(shipped_model: Path) -> None:
    classifier = OnnxRuntimeClassifier(shipped_model)
    crops = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probs = classifier.predict(crops)
    assert probs.shape == (5, len(classifier.info.classes))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert classifier.predict(crops[:0]).shape == (0, len(classifier.info.classes))
