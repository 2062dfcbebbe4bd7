"""INT8 quantization of the shipped model: Q/DQ for TensorRT, calibrated on Training images only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge.classify import OnnxRuntimeClassifier
from export.qdq_rules import errors, validate_qdq
from export.quantize import QuantizationError, quantize_int8

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def int8_model(shipped_model: Path, fer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    train_x, _ = fer.split("train")
    out = tmp_path_factory.mktemp("int8") / "model-int8.onnx"
    quantize_int8(shipped_model, out, train_x[:256], calibration_source="fer2013 train")
    return out


def test_the_quantized_model_follows_tensorrts_explicit_quantization_rules(int8_model: Path) -> None:
    assert errors(validate_qdq(int8_model)) == []
    model = onnx.load(str(int8_model))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    dq_weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in consts]
    conv_weights = [n for n in dq_weights if consts[n.input[0]].ndim == 4]
    assert len(conv_weights) == 7  # every conv's weight is INT8, per output channel
    for node in conv_weights:
        weight, scale = consts[node.input[0]], consts[node.input[1]]
        assert weight.dtype == np.int8 and scale.shape == (weight.shape[0],)
        assert np.all(consts[node.input[2]] == 0)


def test_it_carries_the_parent_metadata_and_the_calibration_facts(int8_model: Path, shipped_model: Path) -> None:
    child = OnnxRuntimeClassifier(int8_model).info
    parent = OnnxRuntimeClassifier(shipped_model).info
    assert child.classes == parent.classes and child.preprocessing == parent.preprocessing
    assert child.crop == parent.crop
    quant = child.extra["quantization"]
    assert quant["calibration"] == {"images": 256, "split": "train", "method": "minmax", "source": "fer2013 train"}
    assert child.extra["parent"]["file"] == shipped_model.name
    assert "session.x64quantprecision=1" in quant["runtime"]  # how to run it right without our code
    assert json.dumps(child.extra)  # plain JSON all the way down


def test_int8_agrees_with_fp32_on_real_faces(int8_model: Path, shipped_model: Path, fer) -> None:
    faces, _ = fer.split("val")
    faces = faces[:500]
    fp32 = OnnxRuntimeClassifier(shipped_model).predict(faces)
    int8 = OnnxRuntimeClassifier(int8_model).predict(faces)
    agreement = float((fp32.argmax(1) == int8.argmax(1)).mean())
    assert agreement > 0.9, f"top-1 agreement {agreement:.3f}"


def test_an_empty_calibration_set_is_refused(shipped_model: Path, tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match=r"no calibration images"):
        quantize_int8(shipped_model, tmp_path / "x.onnx", np.empty((0, 48, 48), dtype=np.uint8))


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_the_histogram_calibrations_also_give_a_valid_model(
    method: str, shipped_model: Path, fer, tmp_path: Path
) -> None:
    train_x, _ = fer.split("train")
    out = tmp_path / f"{method}.onnx"
    result = quantize_int8(shipped_model, out, train_x[:128], method=method)
    assert not errors(result.findings)
    assert result.info.extra["quantization"]["calibration"]["method"] == method
    faces, labels = fer.split("val")
    top1 = float((OnnxRuntimeClassifier(out).predict(faces[:500]).argmax(1) == labels[:500]).mean())
    assert top1 > 0.6
