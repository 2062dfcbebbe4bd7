"""The self-describing model: metadata written by export and read back by the device."""

from __future__ import annotations

import json

import pytest

from edge.contract import CropPolicy, Preprocessing
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
