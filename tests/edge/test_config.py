"""Device configuration: defaults, then file, then environment, then flags; one validator, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from edge.config import (
    SCHEMA,
    SECTIONS,
    ConfigError,
    DeviceConfig,
    from_env,
    load_config,
    schema_text,
    to_toml,
    validate,
)
from edge.mqtt.config import MqttConfig

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


def test_the_mqtt_section_is_validated_with_the_rest(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    text = '[mqtt]\nhost = "broker.local"\nport = 8883\n[mqtt.tls]\nenabled = true\nca_file = "ca.pem"\n'
    env = {"EMOTION_EDGE_MQTT_PORT": "1884", "EMOTION_EDGE_MQTT_BASE": "home/faces", "EMOTION_EDGE_MQTT_QOS_FACES": "1"}
    config = load_config(write(tmp_path, text), env=env)
    assert isinstance(config.mqtt, MqttConfig)
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.port == 1884  # the environment over the file, parsed to the key's type
    assert config.mqtt.base == "home/faces" and config.mqtt.qos.faces == 1  # flat names fold into tables
    assert config.mqtt.tls.ca_file == ca  # relative to the file's folder


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[mqtt]\nprot = 5\n", {}, r"unknown key mqtt\.prot \(from file .*device\.toml\); keys of \[mqtt\] are: "
         r".*; did you mean mqtt\.port\?"),
        ("[mqtt]\nport = 70000\n", {}, r"mqtt\.port=70000 \(from file .*\) is out of range; allowed: 1 <= mqtt\.port "
         r"<= 65535"),
        ("", {"EMOTION_EDGE_MQTT_PORT": "70000"}, r"mqtt\.port=70000 \(from EMOTION_EDGE_MQTT_PORT\) is out of range"),
        ("[mqtt.qos]\nfaces = 3\n", {}, r"mqtt\.qos\.faces=3 \(from file .*\) is out of range; allowed: 0 <= "
         r"mqtt\.qos\.faces <= 2"),
        ("", {"EMOTION_EDGE_MQTT_QOS_FACES": "3"}, r"mqtt\.qos\.faces=3 \(from EMOTION_EDGE_MQTT_QOS_FACES\)"),
        ("[mqtt.rate]\nemotion_none_after_s = -1\n", {}, r"mqtt\.rate\.emotion_none_after_s=-1\.0 \(from file .*\) "
         r"is out of range; allowed: 0 <= "),
        ("[mqtt.auth]\nusername = 'u'\npassword = 'hunter2'\n", {}, r"mqtt\.auth\.password: passwords are not "
         r"accepted.*password_file.*password_env.*\(mqtt\.auth\.password from file .*\)$"),
        ("", {"EMOTION_EDGE_MQTT_AUTH_PASSWORD": "hunter2"}, r"mqtt\.auth\.password: .*\(mqtt\.auth\.password from "
         r"EMOTION_EDGE_MQTT_AUTH_PASSWORD\)"),
        ("[mqtt.auth]\nusername = 'u'\npassword_file = 'missing-pw'\n", {}, r"mqtt\.auth\.password_file: .*missing-pw "
         r"does not exist or is not a file \(mqtt\.auth\.password_file from file .*\)"),
        ("", {"EMOTION_EDGE_MQTT_TLS_ENABLED": "1", "EMOTION_EDGE_MQTT_TLS_CA_FILE": "/nonexistent/ca.pem"},
         r"mqtt\.tls\.ca_file: /nonexistent/ca\.pem does not exist .*\(mqtt\.tls\.ca_file from "
         r"EMOTION_EDGE_MQTT_TLS_CA_FILE\)"),
        ("", {"EMOTION_EDGE_MQTT_TLS": "true"}, r"\[mqtt\.tls\] \(from EMOTION_EDGE_MQTT_TLS\) must be a table"),
        ("[mqtt]\nreconnect_min_s = 5\nreconnect_max_s = 1\n", {}, r"mqtt\.reconnect_max_s=1\.0 is below "
         r"mqtt\.reconnect_min_s=5\.0"),
    ],
)  # fmt: skip
def test_mqtt_errors_come_from_load_config_with_the_key_and_origin(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(write(tmp_path, text), env=env)
    assert "hunter2" not in str(err.value)


def test_the_origin_is_named_for_file_environment_and_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[source]\nfps = -1\n")
    with pytest.raises(ConfigError, match=rf"source\.fps=-1\.0 \(from file {path}\) is out of range; allowed: 0 <"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match=r"source\.fps=-2\.0 \(from EMOTION_EDGE_SOURCE_FPS\)"):
        load_config(path, env={"EMOTION_EDGE_SOURCE_FPS": "-2"})
    with pytest.raises(ConfigError, match=r"source\.fps=-3\.0 \(from command line\)"):
        load_config(path, env={"EMOTION_EDGE_SOURCE_FPS": "-2"}, overrides={"source": {"fps": -3}})


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("EMOTION_EDGE_SMOTHER_ALPHA", "EMOTION_EDGE_SMOOTHER_ALPHA"),
        ("EMOTION_EDGE_SORCE_URI", "EMOTION_EDGE_SOURCE_URI"),
        ("EMOTION_EDGE_MQT_HOST", "EMOTION_EDGE_MQTT_HOST"),
    ],
)
def test_a_misspelled_section_in_the_environment_is_refused_with_the_closest_name(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name} \(environment\) .*did you mean {suggestion}\?"):
        load_config(None, env={name: "1"})


def test_a_misspelled_key_in_the_environment_gets_the_variable_to_use() -> None:
    with pytest.raises(ConfigError, match=r"did you mean EMOTION_EDGE_TRACKER_IOU_THRESHOLD\?"):
        load_config(None, env={"EMOTION_EDGE_TRACKER_IOU": "0.5"})


def test_variables_that_are_not_configuration_are_left_alone() -> None:
    env = {
        "EMOTION_EDGE_CONFIG": "/etc/emotion-edge/config.toml",
        "EMOTION_EDGE_CACHE": "/tmp/cache",
        "EMOTION_EDGE_MQTT_PASSWORD": "the secret named by mqtt.auth.password_env",
        "EMOTION_EDGE_TEST_BROKER": "embedded",
        "EMOTION_EDGE_LOG_LEVEL": "debug",  # not close to any section
    }
    assert load_config(None, env=env) == DeviceConfig()


def test_print_config_refuses_a_bad_mqtt_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emotion_edge.cli import main

    path = write(tmp_path, "[mqtt]\nhots = 'broker'\n")
    assert main(["run", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "unknown key mqtt.hots" in err and "did you mean mqtt.host?" in err and len(err.strip().splitlines()) == 1


def test_print_config_prints_the_validated_mqtt_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emotion_edge.cli import main

    path = write(tmp_path, "[mqtt]\nhost = 'broker'\n[mqtt.qos]\nfaces = 1\n")
    assert main(["run", "--config", str(path), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert '[mqtt]\nenabled = true\nhost = "broker"' in out and "[mqtt.qos]" in out and "faces = 1" in out


def test_the_schema_file_is_what_the_code_generates() -> None:
    committed = (ROOT / SCHEMA).read_text()
    assert committed == schema_text(), f"regenerate it: python -m edge.config > {SCHEMA}"
    data = json.loads(committed)
    assert set(data["properties"]) == set(SECTIONS) | {"cameras"}  # cameras: named tables of the sections
    kinds = data["$defs"]["DetectorConfig"]["properties"]["kind"]["enum"]
    assert kinds == ["yunet", "haar", "yunet-onnxruntime", "yunet-tensorrt", "yunet-auto"]


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
        if section == "mqtt":
            continue  # docs/mqtt.md documents it (below)
        assert f"[{section}]" in text
        for name in cls.model_fields:
            assert f"{name} =" in text, f"{section}.{name} is missing from {EXAMPLE.name}"


def test_docs_mqtt_documents_every_mqtt_key() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text()
    for name, f in MqttConfig.model_fields.items():
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            assert f"[mqtt.{name}]" in text
            for key in sub.model_fields:
                assert f"{key} =" in text, f"mqtt.{name}.{key} is missing from docs/mqtt.md"
        else:
            assert f"{name} =" in text, f"mqtt.{name} is missing from docs/mqtt.md"


def test_the_printed_configuration_reads_back_as_the_same_configuration(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = {
        "EMOTION_EDGE_MODEL_CROP_MARGIN": "0.2",
        "EMOTION_EDGE_SOURCE_URI": "x.mp4",
        "EMOTION_EDGE_MQTT_HOST": "h",
        "EMOTION_EDGE_MQTT_TLS_ENABLED": "true",
        "EMOTION_EDGE_MQTT_TLS_CA_FILE": str(ca),
    }
    original = load_config(None, env=env)
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


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"stats": {"interval_s": 1e-9}}, "stats.interval_s"),
        ({"mqtt": {"rate": {"stats_interval_s": 1e-9}}}, "mqtt.rate.stats_interval_s"),
    ],
)
def test_a_stats_interval_that_would_report_on_every_frame_is_refused(raw: dict, key: str) -> None:
    # #22: 1e-9 was accepted and wrote a log line per frame; ten reports a second is the most.
    with pytest.raises(ConfigError, match=rf"{key}=1e-09 .* is out of range; allowed: 0.1 <= {key} <= 86400"):
        validate(raw)
    assert validate({"stats": {"interval_s": 0.1}}).stats.interval_s == 0.1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"detector": {"interval": 0}}, r'detector\.interval=0 .*a whole number of frames from 1 to 1000, or "auto"'),
        ({"detector": {"interval": "often"}}, r"detector\.interval='often' .*or \"auto\""),
        ({"detector": {"interval": 3, "fps": 5}}, r"detector\.fps=5\.0 and detector\.interval=3 both set"),
        ({"detector": {"fps": 0}}, r"detector\.fps=0\.0 .*out of range"),
        ({"model": {"max_hz": -1}}, r"model\.max_hz=-1 .*from 0 \(every frame\) to 1000"),
        ({"model": {"max_hz": "fast"}}, r"model\.max_hz='fast'"),
        ({"motion": {"enabled": "maybe"}}, r"motion\.enabled='maybe' .*true, false or \"auto\""),
        ({"motion": {"threshold": 300}}, r"motion\.threshold=300\.0 .*out of range"),
        ({"motion": {"min_area": 2}}, r"motion\.min_area=2\.0 .*out of range"),
        ({"detector": {"fps": 1}}, r"tracker\.grace_s = 0\.5 is shorter than the 1 s between detections"),
        ({"detector": {"interval": 30}}, r"tracker\.grace_s = 0\.5 .*detector\.interval = 30 at source\.fps = 30"),
    ],
)
def test_the_cadence_keys_are_checked_and_errors_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(raw)


def test_the_cadence_keys_default_to_auto_and_take_text_from_the_environment() -> None:
    config = load_config(None, env={})
    assert (config.detector.interval, config.detector.fps, config.model.max_hz) == ("auto", None, "auto")
    assert config.motion.enabled == "auto"
    env = {
        "EMOTION_EDGE_DETECTOR_INTERVAL": "3",
        "EMOTION_EDGE_MODEL_MAX_HZ": "0",
        "EMOTION_EDGE_MOTION_ENABLED": "off",
    }
    config = load_config(None, env=env)
    assert (config.detector.interval, config.model.max_hz, config.motion.enabled) == (3, 0.0, False)
    every = validate({"detector": {"interval": 1}, "model": {"max_hz": 0}, "tracker": {"grace_s": 0}})
    assert every.detector.interval == 1  # every frame needs no grace between detections


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-0.1, r"tracker\.main_face_margin=-0\.1 .*0 <= tracker\.main_face_margin <= 10"),
        ("nan", r"tracker\.main_face_margin=nan .*out of range"),
        ("wide", r"tracker\.main_face_margin='wide' .*expected a number"),
    ],
)
def test_the_main_face_margin_is_a_share_of_area_from_0_and_errors_name_the_key(value: object, message: str) -> None:
    assert validate({}).tracker.main_face_margin == 0.2
    assert validate({"tracker": {"main_face_margin": 0}}).tracker.main_face_margin == 0.0
    with pytest.raises(ConfigError, match=message):
        validate({"tracker": {"main_face_margin": value}})
