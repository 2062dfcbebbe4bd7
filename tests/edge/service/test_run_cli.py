"""`emotion-edge run` by hand, as a process: one validation for every section behind --print-config,
the broker named on the command line, -v anywhere, the detector found as `demo` finds it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber

ROOT = Path(__file__).resolve().parents[3]


def emotion_edge(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("prot = 1883", r"unknown key mqtt.prot .*did you mean mqtt.port\?"),
        ("[mqtt.rate]\nstats_interval_s = -1", r"mqtt.rate.stats_interval_s=-1(\.0)? .* is out of range"),
        ("port = 70000", r"mqtt.port=70000 .* is out of range; allowed: 1 <= mqtt.port <= 65535"),
        ("[mqtt.qos]\nfaces = 3", r"mqtt.qos.faces=3 .*"),
        (
            '[mqtt.auth]\npassword = "hunter2"',
            r"mqtt.auth.password: passwords are not accepted in the configuration; .*password_file",
        ),
        ('[mqtt.auth]\nusername = "u"\npassword_file = "/nonexistent/pw"', r"mqtt.auth.password_file.*/nonexistent/pw"),
    ],
    ids=["misspelled key", "negative rate", "port 70000", "qos 3", "password key", "missing password file"],
)
def test_print_config_refuses_every_bad_mqtt_setting_run_refuses(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f"[mqtt]\n{table}\n")
    done = emotion_edge("run", "--config", str(config), "--print-config")
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""  # nothing printed as if it were valid
    assert re.search(message, done.stderr), done.stderr
    assert "hunter2" not in done.stderr


def test_a_misspelled_section_in_an_environment_variable_is_refused_with_the_right_name() -> None:
    done = emotion_edge("run", "--print-config", env={"EMOTION_EDGE_SMOTHER_ALPHA": "0.5"})
    assert done.returncode == 2
    assert "did you mean EMOTION_EDGE_SMOOTHER_ALPHA?" in done.stderr


def test_verbose_works_after_the_subcommand_too(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    quiet = emotion_edge("run", "--config", str(missing))
    assert quiet.returncode == 2 and "run with -v for the traceback" in quiet.stderr
    loud = emotion_edge("run", "--config", str(missing), "-v")
    assert "Traceback" in loud.stderr and "nope.toml not found" in loud.stderr


def test_the_face_detector_file_is_git_ignored() -> None:
    done = subprocess.run(["git", "check-ignore", "models/face_detection_yunet.onnx"], cwd=ROOT, capture_output=True)
    assert done.returncode == 0


@pytest.mark.shared
def test_run_publishes_to_the_broker_named_on_the_command_line_and_finds_the_detector_as_demo_does(
    tmp_path: Path, face_clip: Path, shipped_model: Path, yunet_model: Path, broker: Broker, subscriber: Subscriber
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{face_clip}"\nrealtime = false\n[model]\npath = "{shipped_model}"\n'
        f'[detector]\nmodel = "{tmp_path / "not-here.onnx"}"\n[mqtt]\ndevice_id = "byhand"\nflush_timeout_s = 1.0\n'
    )
    done = emotion_edge(
        "run", "--config", str(config), "--broker", f"127.0.0.1:{broker.port}", "--max-frames", "3", timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"detector.model \S*not-here.onnx is not there: using \S*face_detection_yunet.onnx", done.stderr)
    assert f"publishing to 127.0.0.1:{broker.port}" in done.stderr
    subscriber.wait_topic("emotion-edge/byhand/availability", "online")
    subscriber.wait_topic("emotion-edge/byhand/availability", "offline")
