"""Several cameras in one configuration (#24, its configuration): [cameras.NAME] tables that start
from the device-wide sections, names fit for MQTT topics and Home Assistant ids, and today's single
[source] still one camera named `default`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import DEFAULT_CAMERA, MAX_CAMERAS, load_config, validate
from edge.fields import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def cameras(**tables: dict) -> dict:  # type: ignore[type-arg]
    return {"cameras": tables}


def test_without_cameras_the_one_source_is_a_camera_named_default() -> None:
    config = validate({"source": {"uri": "/dev/video2"}, "detector": {"max_side": 480}})
    (name,) = config.camera_configs()
    assert name == DEFAULT_CAMERA == "default"
    one = config.for_camera(name)
    assert one.source.uri == "/dev/video2" and one.detector.max_side == 480
    assert config.single_camera().source == config.source


def test_each_camera_starts_from_the_device_wide_sections_and_sets_only_what_differs() -> None:
    config = validate(
        {
            "source": {"fps": 15},
            "detector": {"interval": 3, "max_side": 320},
            "tracker": {"grace_s": 1.0},
            **cameras(
                door={"source": {"uri": "rtsp://cam-door/stream"}},
                desk={"source": {"uri": "/dev/video2", "fps": 30}, "detector": {"max_side": 640}},
            ),
        }
    )
    by_name = config.camera_configs()
    assert list(by_name) == ["door", "desk"]
    door, desk = by_name["door"], by_name["desk"]
    assert (door.source.uri, door.source.fps, door.detector.max_side, door.detector.interval) == (
        "rtsp://cam-door/stream", 15, 320, 3,
    )  # fmt: skip
    assert (desk.source.fps, desk.detector.max_side, desk.detector.interval, desk.tracker.grace_s) == (30, 640, 3, 1.0)
    # One camera's device: its own sections in place, the model and MQTT the device's.
    as_desk = config.for_camera("desk")
    assert as_desk.detector.max_side == 640 and as_desk.source.uri == "/dev/video2"
    assert as_desk.model == config.model and as_desk.mqtt == config.mqtt and not as_desk.cameras


def test_a_cameras_file_path_is_taken_relative_to_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text('[cameras.lab.source]\nuri = "clips/lab.mp4"\n[cameras.door.source]\nuri = "rtsp://door/s"\n')
    config = load_config(path, env={})
    assert config.cameras["lab"].source.uri == str(tmp_path / "clips" / "lab.mp4")
    assert config.cameras["door"].source.uri == "rtsp://door/s"


@pytest.mark.parametrize(
    "name",
    ["Door", "door/1", "door+", "#", "front door", "door\x1b[2J", "_hidden", "-x", "ä", "x" * 33],
)
def test_a_name_that_cannot_be_a_topic_level_or_an_entity_id_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"camera name .*: (use lower-case letters|33 characters)") as err:
        validate(cameras(**{name: {"source": {"uri": "/dev/video2"}}}))
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


def test_two_cameras_on_one_source_are_refused_naming_both() -> None:
    with pytest.raises(ConfigError, match=r"cameras a and b both read '/dev/video0': a camera can be opened once"):
        validate(cameras(a={}, b={}))  # neither sets its uri: both inherit [source]'s


def test_more_cameras_than_one_device_runs_are_refused() -> None:
    many = {f"c{i}": {"source": {"uri": f"/dev/video{i}"}} for i in range(MAX_CAMERAS + 1)}
    with pytest.raises(ConfigError, match=rf"{MAX_CAMERAS + 1} cameras; one device runs at most {MAX_CAMERAS}"):
        validate({"cameras": many})


def test_a_wrong_key_or_value_in_a_camera_is_named_with_the_camera() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown key cameras\.door\.detektor .*did you mean cameras\.door\.detector"
    ):
        validate(cameras(door={"detektor": {}}))
    with pytest.raises(ConfigError, match=r"cameras\.door\.detector\.interval=0 .*is not allowed"):
        validate(cameras(door={"detector": {"interval": 0}}))
    with pytest.raises(ConfigError, match=r"\[cameras\.door\] .*must be a table of keys, got 5"):
        validate(cameras(door=5))
    with pytest.raises(ConfigError, match=r"unknown key cameras\.door\.model"):  # one model for every camera
        validate(cameras(door={"model": {"path": "x.onnx"}}))


def test_a_cameras_own_settings_are_checked_together() -> None:
    with pytest.raises(ConfigError, match=r"tracker\.grace_s = 0\.1 .*\(cameras\.door\.tracker from"):
        validate(cameras(door={"detector": {"interval": 20}, "tracker": {"grace_s": 0.1}}))


def test_cameras_are_not_set_from_variables_and_source_is_not_overridden_under_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"EMOTION_EDGE_CAMERAS_DOOR_SOURCE_URI \(environment\): cameras are set in"):
        load_config(env={"EMOTION_EDGE_CAMERAS_DOOR_SOURCE_URI": "/dev/video1"})
    path = tmp_path / "device.toml"
    path.write_text('[cameras.door.source]\nuri = "/dev/video1"\n')
    with pytest.raises(ConfigError, match=r"--source '/dev/video3': this configuration names its cameras"):
        load_config(path, env={}, overrides={"source": {"uri": "/dev/video3"}})


def test_a_command_that_works_on_one_camera_refuses_two_in_one_line_and_print_config_shows_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        '[mqtt]\nenabled = false\n[cameras.door.source]\nuri = "/dev/video1"\n'
        '[cameras.desk.source]\nuri = "/dev/video2"\n'
    )
    printed = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(path), "--print-config"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert printed.returncode == 0 and "[cameras.door.source]" in printed.stdout
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "bench", "--config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "cameras: 2 are configured (door, desk), and this command works on one" in line


@pytest.mark.shared
def test_one_named_camera_runs_as_the_device_did(
    tmp_path: Path, face_clip: Path, shipped_model: Path, yunet_model: Path
) -> None:
    path = tmp_path / "one.toml"
    path.write_text(
        f'[mqtt]\nenabled = false\n[model]\npath = "{shipped_model}"\n[detector]\nmodel = "{yunet_model}"\n'
        f'[cameras.lab.source]\nuri = "{face_clip}"\nrealtime = false\n'
    )
    results = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(path), "--max-frames", "5",
         "--results", str(results)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    frames = [json.loads(line) for line in results.read_text().splitlines()]
    frames = [f for f in frames if f["type"] == "frame"]
    assert len(frames) == 5 and any(f["faces"] for f in frames)  # the camera's clip, read and classified
