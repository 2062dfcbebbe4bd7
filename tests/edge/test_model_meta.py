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


# What a model says about itself is checked at load (#22): every number finite and in range, class
# names fit to publish, the input the device feeds, an output kind it knows. One line each, naming
# the key, never echoing a hostile value raw.


def props_with(section: str, **changes: object) -> dict[str, str]:
    props = info(["angry", "happy", "sad"]).to_props()
    value = json.loads(props[PREFIX + section])
    value.update(changes)
    props[PREFIX + section] = json.dumps(value)
    return props


TEMPLATE = [[0.32, 0.38], [0.68, 0.38], [0.5, 0.55], [0.36, 0.74], [0.64, 0.74]]


@pytest.mark.parametrize(
    ("section", "change", "message"),
    [
        ("preprocessing", {"std": float("nan")}, r"preprocessing.std must be within \[0.001, 1000\]"),
        ("preprocessing", {"std": 0.0}, r"preprocessing.std must be within"),
        ("preprocessing", {"std": "0.5"}, r"preprocessing.std must be within"),
        ("preprocessing", {"scale": float("inf")}, r"preprocessing.scale must be within"),
        ("preprocessing", {"mean": 1e9}, r"preprocessing.mean must be within"),
        ("preprocessing", {"clahe_clip": float("nan")}, r"preprocessing.clahe_clip must be within"),
        ("preprocessing", {"clahe_grid": 0}, r"preprocessing.clahe_grid must be within \[1, 16\] \(an integer\)"),
        ("crop", {"margin": float("nan")}, r"crop.margin must be within \[-0.3, 1\]"),
        ("crop", {"size": 0}, r"crop.size must be within \[8, 512\]"),
        ("crop", {"size": 48.5}, r"crop.size must be within \[8, 512\] \(an integer\)"),
        ("crop", {"align": "yes"}, r"crop.align must be true or false"),
        ("crop", {"template": [[0.3, 0.4]] * 4}, r"crop.template must be five \[x, y\] points"),
        ("crop", {"template": "eyes"}, r"crop.template must be five \[x, y\] points"),
        ("crop", {"template": [[0.3, 0.4, 1]] * 5}, r"crop.template\[0\] must be an \[x, y\] pair"),
        ("crop", {"template": [[0.3, float("nan")], *TEMPLATE[1:]]}, r"crop.template\[0\].y must be within"),
        ("crop", {"template": [*TEMPLATE[:4], [9.0, 0.7]]}, r"crop.template\[4\].x must be within \[-0.5, 1.5\]"),
        ("crop", {"template": [[0.3, 0.4], [0.31, 0.4], *TEMPLATE[2:]]}, r"crop.template: the two eyes .* apart"),
        ("output", {"temperature": 1e6}, r"output.temperature must be a finite number within \[0.01, 100\]"),
    ],
)
def test_every_number_of_the_metadata_is_finite_and_in_range(section: str, change: dict, message: str) -> None:
    with pytest.raises(ModelMetadataError, match=rf"^m.onnx: metadata key emotion_edge.{message}"):
        ModelInfo.from_props(props_with(section, **change), source="m.onnx")


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["angry", "\x1b[2Jhappy"], r"classes\[1\] holds control or invisible characters \(got '\\x1b\[2Jhappy'\)"),
        (["angry", "hap\npy"], r"classes\[1\] holds control or invisible characters"),
        (["angry", "hap\u200bpy"], r"classes\[1\] holds control or invisible characters"),
        (["angry", "happy/sad"], r"classes\[1\] is 'happy/sad': a class name may not contain /, #, \+"),
        (["angry", "#"], r"classes\[1\] is '#'"),
        (["angry", "+1"], r"classes\[1\] is '\+1'"),
        (["angry", ""], r"classes\[1\] must be a non-empty string"),
        (["angry", " happy"], r"classes\[1\] starts or ends with a space"),
        (["angry", "x" * 41], r"classes\[1\] is 41 characters long, at most 40"),
        (["angry", "None"], r"classes\[1\] is 'None'.* nor be none \(the emotion topic's word for no face\)"),
        (["happy", "sad", "happy"], r"classes names 'happy' twice \(at 0 and 2\)"),
        (["happy", "Happy"], r"classes names 'happy' twice"),
        ([f"c{i}" for i in range(500)], r"classes must be a JSON list of at least two and at most 64 names, got 500"),
        (["angry", 7], r"classes\[1\] must be a non-empty string"),
    ],
)
def test_class_names_that_cannot_be_published_safely_are_refused(classes: list, message: str) -> None:
    props = info(["a", "b"]).to_props()
    props[PREFIX + "classes"] = json.dumps(classes)
    with pytest.raises(ModelMetadataError, match=rf"^m.onnx: (metadata key )?emotion_edge.{message}"):
        ModelInfo.from_props(props, source="m.onnx")


def test_a_megabyte_model_name_or_an_escape_in_the_version_is_refused_in_one_short_line() -> None:
    props = info(["a", "b"]).to_props()
    props[PREFIX + "name"] = "n" * 1_000_000
    with pytest.raises(ModelMetadataError, match=r"name is 1000000 characters long, at most 100") as caught:
        ModelInfo.from_props(props, source="m.onnx")
    assert len(str(caught.value)) < 300 and "\n" not in str(caught.value)
    props = info(["a", "b"]).to_props()
    props[PREFIX + "version"] = "1.0\x1b]0;pwned\x07"
    with pytest.raises(ModelMetadataError, match=r"version holds control or invisible characters") as caught:
        ModelInfo.from_props(props, source="m.onnx")
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)


def test_a_logits_output_is_refused_not_read_as_probabilities() -> None:
    with pytest.raises(ModelMetadataError, match=r"output.kind is 'logits'; this runtime reads probabilities"):
        ModelInfo.from_props(props_with("output", kind="logits"), source="m.onnx")


@pytest.mark.parametrize("shape", [[-1, 3, 48, 48], [-1, 1, 64, 64], [-1, 48, 48], [0, 1, 48, 48], "48x48"])
def test_an_input_shape_other_than_the_crop_the_device_feeds_is_refused(shape: object) -> None:
    with pytest.raises(ModelMetadataError, match=r"input.shape is .*; the device feeds \[-1, 1, 48, 48\]"):
        ModelInfo.from_props(props_with("input", shape=shape), source="m.onnx")


def test_the_released_models_pass_every_check(shipped_model) -> None:  # type: ignore[no-untyped-def]
    from edge.catalog import CATALOG, PRECISIONS
    from edge.model_meta import read_onnx_metadata

    # The catalog's files, not every .onnx in models/: `emotion-edge models fetch` puts YuNet there
    # too (git-ignored), and it is not ours to check (the emulated arm64 run failed on it).
    for path in [shipped_model.parent / e.file(p) for e in CATALOG for p in PRECISIONS]:
        assert read_onnx_metadata(str(path)).classes


def test_a_five_point_template_travels_in_the_metadata_and_is_described() -> None:
    info = ModelInfo.from_props(props_with("crop", template=TEMPLATE), source="m.onnx")
    assert info.crop.template == tuple(tuple(p) for p in TEMPLATE)
    again = ModelInfo.from_props(info.to_props(), source="again.onnx")
    assert again.crop == info.crop
    assert "five landmarks" in info.describe_preprocessing() and "(0.3200, 0.3800)" in info.describe_preprocessing()
    # A box-crop model writes no template key, so devices from before five-point alignment still read it.
    plain = ModelInfo.from_props(props_with("crop"), source="m.onnx")
    assert "template" not in json.loads(plain.to_props()["emotion_edge.crop"])
