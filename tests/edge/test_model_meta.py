"""The self-describing model: metadata written by export and read back by the device."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.contract import CropPolicy, Preprocessing, apply_temperature
from edge.model_meta import PREFIX, ModelInfo, ModelMetadataError


def info(classes: list[str]) -> ModelInfo:
    return ModelInfo(
        name="m",
        version="1.2.3",
        classes=classes,
        preprocessing=Preprocessing(equalize="clahe"),
        crop=CropPolicy(margin=0.2, align=False),
        metrics={"test_top1": 0.7},
    )


def test_round_trip_keeps_every_fact_including_another_class_set() -> None:
    original = info(["ahegao", "angry", "happy", "neutral", "sad", "surprise"])
    props = original.to_props()
    assert all(k.startswith(PREFIX) and isinstance(v, str) for k, v in props.items())
    back = ModelInfo.from_props(props)
    assert back == original


def test_the_text_description_names_every_preprocessing_step() -> None:
    text = info(["a", "b"]).to_props()[PREFIX + "preprocessing_text"]
    for fact in ("0.20", "CLAHE", "48x48", "probabilities", "['a', 'b']", "- 0.5) / 0.5"):
        assert fact in text


def test_a_missing_key_is_named_with_the_fix() -> None:
    props = info(["a", "b"]).to_props()
    del props[PREFIX + "crop"]
    with pytest.raises(ModelMetadataError, match=r"lacks metadata key 'emotion_edge.crop'.*re-export"):
        ModelInfo.from_props(props, source="x.onnx")


def test_garbled_values_are_refused() -> None:
    props = info(["a", "b"]).to_props()
    props[PREFIX + "classes"] = json.dumps(["only-one"])
    with pytest.raises(ModelMetadataError, match=r"classes must be a JSON list of at least two"):
        ModelInfo.from_props(props)
    props = info(["a", "b"]).to_props()
    props[PREFIX + "format"] = "9"
    with pytest.raises(ModelMetadataError, match=r"metadata format '9'"):
        ModelInfo.from_props(props)


def test_a_model_written_by_the_one_writer_reads_back_equal(tmp_path, shipped_model) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnx")  # the writer is the workstation's; the device only reads
    from edge.model_meta import read_onnx_metadata, write_onnx_metadata

    model = tmp_path / "model.onnx"
    model.write_bytes(shipped_model.read_bytes())
    written = info(["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"])
    written.extra = {"parent": {"file": "x.onnx"}, "quantization": {"calibration": {"images": 3}}}
    write_onnx_metadata(str(model), written)
    assert read_onnx_metadata(str(model)) == written
    import onnx

    assert onnx.load(str(model)).doc_string == written.describe_preprocessing()


# The temperature (#21): fitted after training, stored in the output's metadata, applied by every backend.


def test_the_temperature_round_trips_and_is_absent_in_older_models() -> None:
    calibrated = info(["a", "b"])
    calibrated.temperature = 1.7
    assert ModelInfo.from_props(calibrated.to_props()) == calibrated
    older = info(["a", "b"]).to_props()
    older[PREFIX + "output"] = json.dumps({"name": "probabilities", "kind": "probabilities"})
    assert ModelInfo.from_props(older).temperature == 1.0


@pytest.mark.parametrize("bad", ["NaN", "0", "-1.5", '"2"', "Infinity", "true", "null"])
def test_a_temperature_that_is_not_a_finite_positive_number_is_refused_naming_the_key(bad: str) -> None:
    props = info(["a", "b"]).to_props()
    props[PREFIX + "output"] = '{"name": "probabilities", "kind": "probabilities", "temperature": ' + bad + "}"
    with pytest.raises(ModelMetadataError, match=r"x.onnx: metadata key emotion_edge.output.temperature must be"):
        ModelInfo.from_props(props, source="x.onnx")


def test_temperature_one_leaves_the_scores_bit_for_bit_unchanged() -> None:
    probs = np.random.default_rng(1).dirichlet(np.ones(7), 50).astype(np.float32)
    assert apply_temperature(probs, 1.0) is probs


def test_the_temperature_is_softmax_of_the_logits_divided_by_it() -> None:
    logits = np.random.default_rng(2).normal(0, 4, (20, 7))
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    softened = apply_temperature(probs, 2.0)
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum(1, keepdims=True)
    assert softened.dtype == np.float32
    assert np.allclose(softened, expected, atol=1e-5)
    assert (softened.argmax(1) == probs.argmax(1)).all()
    # A score that underflowed to 0 stays finite and tiny instead of log(0)'s NaN.
    edge_case = apply_temperature(np.array([[1.0, 0.0, 0.0]], np.float32), 3.0)
    assert np.isfinite(edge_case).all() and edge_case[0, 0] > 0.999
