"""Device configuration: defaults, then file, then environment, then flags; one validator, clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edge.config import (
    SECTIONS,
    ConfigError,
    DeviceConfig,
    from_env,
    load_config,
    to_toml,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "systemd" / "emotion-edge.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(text)
    return path


def test_without_a_file_the_defaults_apply() -> None:
    config = load_config(None, env={})
    assert config == DeviceConfig()
    assert config.source.uri == "/dev/video0" and config.detector.kind == "yunet"
    assert config.model.crop_margin is None and config.model.crop_align is None  # the model's own policy


def test_later_layers_win_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[source]\nuri = "/dev/video1"\nfps = 15\n[detector]\nmax_side = 256\n[smoother]\nalpha = 0.2\n'
    )
    env = {"EMOTION_EDGE_SOURCE_URI": "/dev/video2", "EMOTION_EDGE_DETECTOR_MAX_SIDE": "480"}
    config = load_config(path, env=env, overrides={"source": {"uri": "csi://0", "fps": None}})
    assert config.source.uri == "csi://0"  # flag over environment over file
    assert config.detector.max_side == 480  # environment over file, parsed to int
    assert config.source.fps == 15.0  # file over default; a None flag does not override
    assert config.smoother.alpha == 0.2


def test_environment_values_are_parsed_to_the_keys_type() -> None:
    env = {
        "EMOTION_EDGE_SOURCE_LOOP": "yes",
        "EMOTION_EDGE_SOURCE_FPS": "12.5",
        "EMOTION_EDGE_MODEL_CROP_MARGIN": "0.25",
        "EMOTION_EDGE_MODEL_CROP_ALIGN": "false",
        "EMOTION_EDGE_SOURCE_URI": "0",
    }
    config = load_config(None, env=env)
    assert config.source.loop is True and config.source.fps == 12.5 and config.source.uri == "0"
    assert config.model.crop_margin == 0.25 and config.model.crop_align is False


def test_environment_variables_that_are_not_configuration_are_left_alone() -> None:
    assert from_env({"EMOTION_EDGE_TEST_MODEL": "/tmp/x.onnx", "HOME": "/root", "EMOTION_EDGE_": "x"}) == {}


def test_a_toml_integer_is_a_camera_index(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[source]\nuri = 0\n"), env={}).source.uri == "0"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('[detector]\nkind = "hog"\n', {}, r"detector.kind='hog' \(from file .*\) is not allowed; choose one of: "
         r"yunet, haar"),
        ("", {"EMOTION_EDGE_MODEL_BACKEND": "cuda"}, r"model.backend='cuda' \(from EMOTION_EDGE_MODEL_BACKEND\) is not "
         r"allowed; choose one of: auto, onnxruntime, tensorrt"),
        ("[detector]\nscore_threshold = 1.5\n", {}, r"detector.score_threshold=1.5 .* out of range; allowed: "
         r"0 < detector.score_threshold <= 1"),
        ("[source]\nwidth = 8\n", {}, r"source.width=8 .* out of range; allowed: 16 <= source.width <= 8192"),
        ('[source]\nfps = "fast"\n', {}, r"source.fps='fast' \(from file .*\): expected a number"),
        ("", {"EMOTION_EDGE_SOURCE_LOOP": "maybe"}, r"source.loop='maybe' \(from EMOTION_EDGE_SOURCE_LOOP\): "
         r"expected true or false"),
        ("[source]\nwidth = 640.5\n", {}, r"source.width=640.5 .*: expected a whole number"),
        ("[source]\nwidth = true\n", {}, r"source.width=True .*: expected a whole number"),
        ("[source]\nuri = 1.5\n", {}, r"source.uri=1.5 .*: expected a string"),
        ("[model]\ncrop_margin = 2.0\n", {}, r"model.crop_margin=2.0 .* is not allowed: crop.margin must be within"),
        ("[source]\nresolution = 720\n", {}, r"unknown key source.resolution \(from file .*\); keys of \[source\] are: "
         r"uri, width, height"),
        ("", {"EMOTION_EDGE_TRACKER_IOU": "0.5"}, r"unknown key tracker.iou \(from EMOTION_EDGE_TRACKER_IOU\)"),
        ("[camera]\nuri = 0\n", {}, r"unknown section \[camera\] .*; sections are: source, detector, model, tracker, "
         r"smoother, stats, output, mqtt"),
        ('source = "x"\n', {}, r"\[source\] .* must be a table of keys"),
        ('mqtt = "broker"\n', {}, r"\[mqtt\] .* must be a table of keys"),
        ("[source]\nretry_initial_s = 5\nretry_max_s = 1\n", {}, r"source.retry_max_s=1.0 is below "
         r"source.retry_initial_s"),
    ],
)  # fmt: skip
def test_bad_values_name_the_key_where_it_came_from_and_what_is_allowed(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env=env)


def test_invalid_toml_and_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"device.toml is not valid TOML: .*line 1"):
        load_config(write(tmp_path, "[source\nuri = 0\n"), env={})
    with pytest.raises(ConfigError, match=r"config file .*nope.toml not found; start from the example"):
        load_config(tmp_path / "nope.toml", env={})


def test_the_mqtt_table_passes_through_untouched(tmp_path: Path) -> None:
    text = '[mqtt]\nhost = "broker.local"\nport = 8883\nsome_future_key = [1, 2]\n[mqtt.tls]\nca_file = "ca.pem"\n'
    env = {
        "EMOTION_EDGE_MQTT_PORT": "1884",
        "EMOTION_EDGE_MQTT_BASE_TOPIC": "home/faces",
        "EMOTION_EDGE_MQTT_TLS": "true",
    }
    config = load_config(write(tmp_path, text), env=env)
    assert config.mqtt["host"] == "broker.local"
    assert config.mqtt["some_future_key"] == [1, 2]
    assert config.mqtt["port"] == 1884  # environment values arrive as TOML literals...
    assert config.mqtt["base_topic"] == "home/faces"  # ...or as strings when they are not one
    assert config.mqtt["tls"] is True  # the environment replaces the key as a whole; the owner validates it
    assert load_config(write(tmp_path, "[mqtt]\n[mqtt.tls]\nca_file = 'ca.pem'\n"), env={}).mqtt == {
        "tls": {"ca_file": "ca.pem"}
    }


def test_relative_paths_in_the_file_are_relative_to_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "device.toml"
    path.write_text(
        '[source]\nuri = "clips/demo.mp4"\n[model]\npath = "../models/m.onnx"\n[detector]\nmodel = "/abs/yunet.onnx"\n'
        '[output]\nresults = "out.jsonl"\n'
    )
    config = load_config(path, env={"EMOTION_EDGE_OUTPUT_RECORD": "rec.mp4"})
    assert config.source.uri == str(folder / "clips" / "demo.mp4")
    assert config.model.path == str(tmp_path / "models" / "m.onnx")
    assert config.detector.model == "/abs/yunet.onnx"
    assert config.output.results == str(folder / "out.jsonl")
    assert config.output.record == "rec.mp4"  # from the environment: relative to the working directory
    assert config.base_dir == str(folder)


def test_camera_and_stream_uris_in_the_file_are_not_paths(tmp_path: Path) -> None:
    for uri in ("0", "/dev/video1", "rtsp://cam/s", "csi://0", "picamera2://0"):
        assert load_config(write(tmp_path, f'[source]\nuri = "{uri}"\n'), env={}).source.uri == uri


def test_the_example_configuration_is_valid_and_documents_every_key() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.source == DeviceConfig().source
    text = EXAMPLE.read_text()
    for section, cls in SECTIONS.items():
        assert f"[{section}]" in text
        for f in dataclasses.fields(cls):
            assert f"{f.name} =" in text, f"{section}.{f.name} is missing from {EXAMPLE.name}"


def test_the_printed_configuration_reads_back_as_the_same_configuration(tmp_path: Path) -> None:
    original = load_config(None, env={"EMOTION_EDGE_MODEL_CROP_MARGIN": "0.2", "EMOTION_EDGE_SOURCE_URI": "x.mp4"})
    original = dataclasses.replace(original, mqtt={"host": "h", "tls": {"ca_file": "ca.pem"}})
    path = write(tmp_path, to_toml(original.to_dict()))
    again = load_config(path, env={})
    assert again.model.crop_margin == 0.2 and again.mqtt == original.mqtt
    assert again.tracker == original.tracker and again.smoother == original.smoother
    # Relative paths now belong to the file, so they are read relative to its folder.
    assert again.source.uri == str(tmp_path / "x.mp4")
    assert again.model.path == str(tmp_path / "models" / "emotion-edge-fp32.onnx")


def test_validate_is_the_one_gate_for_plain_dicts_too() -> None:
    assert validate({"tracker": {"grace_s": 1}}).tracker.grace_s == 1.0
    with pytest.raises(ConfigError, match=r"tracker\.grace_s=-1"):
        validate({"tracker": {"grace_s": -1}})
