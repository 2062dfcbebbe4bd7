"""``emotion-edge watch``: the subscriber's tool, run as the real command against a real broker."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.mqtt.watch import COLUMNS, WatchState, format_row
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import face, frame, wait_until
from tests.edge.mqtt.conftest import DEVICE, SecureBroker, needs_secure_broker

ROOT = Path(__file__).resolve().parents[3]
STATS = {"fps": 15.2, "latency_ms": {"end_to_end": {"p50": 30.0, "p99": 41.0}}}


class Watch:
    """``emotion-edge watch ...`` in its own process, its output read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emotion_edge.cli", "watch", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    # Generous limits: they bound a failure, not a speed; on a loaded machine starting the command
    # alone has taken tens of seconds.
    def wait_line(self, predicate, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"watch printed no such line within {timeout} s; it printed: {self.seen}")

    def finish(self, timeout: float = 60.0) -> tuple[int, str, list[str]]:
        """Wait for it to exit; returns (status, stderr, remaining stdout lines)."""
        status = self.proc.wait(timeout=timeout)
        out = [line.rstrip("\n") for line in (self.proc.stdout.read() if self.proc.stdout else "").splitlines()]
        while not self.lines.empty():
            out.insert(0, self.lines.get())
        return status, self.proc.stderr.read() if self.proc.stderr else "", self.seen + out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)  # a bound for a hang, not a speed: a loaded machine is slow to exit
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()  # a returncode (-9) for the assertion to report, not None


@pytest.fixture
def watch() -> Iterator:
    started: list[Watch] = []

    def run(*args: str) -> Watch:
        w = Watch(*args)
        started.append(w)
        return w

    yield run
    for w in started:
        w.stop()


def test_the_table_shows_device_face_ids_emotion_score_and_fps(make_publisher, broker: Broker, watch) -> None:
    p = make_publisher()
    w = watch("--host", broker.host, "--port", str(broker.port))
    w.wait_line(lambda line: line.split()[:1] == ["DEVICE"])  # the retained state arrived: a header, then rows
    p.handle_stats(STATS)
    p.handle_frame(frame(1, face(4, "happy", 0.91, size=150), face(9, "sad", 0.55, size=60)))
    main = w.wait_line(lambda line: "4*" in line.split())
    other = w.wait_line(lambda line: line.split()[3:4] == ["9"])
    assert main.split() == [DEVICE, "online", "15.2", "4*", "happy", "0.91"]
    assert other.split() == [DEVICE, "online", "15.2", "9", "sad", "0.55"]
    w.stop()
    assert w.proc.returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_it_cleanly(make_publisher, broker: Broker, watch, sig: signal.Signals) -> None:
    p = make_publisher()
    w = watch("--host", broker.host, "--port", str(broker.port))
    w.wait_line(lambda line: line.split()[:1] == ["DEVICE"])
    p.handle_frame(frame(1, face(4, "happy", 0.91)))  # messages keep arriving while it stops
    w.proc.send_signal(sig)
    assert w.proc.wait(timeout=60) == 0


def test_json_mode_prints_every_message_as_one_json_line(make_publisher, broker: Broker, watch) -> None:
    p = make_publisher()
    p.handle_frame(frame(1, face(1, "surprise", 0.7)))
    wait_until(lambda: p.figures()["state_pending"] == 0 and p.figures()["queued"] == 0, what="published")
    w = watch("--host", broker.host, "--port", str(broker.port), "--json", "--count", "3")
    status, err, lines = w.finish()
    assert status == 0, err
    got = [json.loads(line) for line in lines]
    assert {(m["device"], m["kind"], m["retained"]) for m in got} == {
        (DEVICE, "availability", True),
        (DEVICE, "emotion", True),
        (DEVICE, "presence", True),
    }
    by_kind = {m["kind"]: m for m in got}
    assert by_kind["availability"]["payload"] == "online"
    assert by_kind["emotion"]["payload"]["emotion"] == "surprise"
    assert by_kind["emotion"]["topic"] == f"emotion-edge/{DEVICE}/emotion"


def test_device_selects_one_device(make_publisher, broker: Broker, watch) -> None:
    make_publisher(device_id="hall")
    porch = make_publisher(device_id="porch")
    w = watch("--host", broker.host, "--port", str(broker.port), "--json", "--device-id", "porch")
    w.wait_line(lambda line: json.loads(line)["kind"] == "availability")
    porch.handle_frame(frame(1, face(2, "fear")))
    w.wait_line(lambda line: json.loads(line)["kind"] == "faces")
    assert {json.loads(line)["device"] for line in w.seen} == {"porch"}


def test_watch_waits_for_a_broker_that_is_down_and_then_shows_the_stream(make_publisher, tmp_path: Path, watch) -> None:
    broker = Broker(tmp_path)
    w = watch("--host", broker.host, "--port", str(broker.port), "--json", "--count", "1")
    # Its first words on stderr come once it has tried (a fixed sleep loses that race on a busy machine).
    assert w.proc.stderr is not None
    first = w.proc.stderr.readline()
    assert w.proc.poll() is None  # still waiting, not crashed
    broker.start()
    try:
        make_publisher(port=broker.port)
        status, err, lines = w.finish(timeout=15)
        err = first + err
        assert status == 0 and json.loads(lines[0])["kind"] == "availability"
        assert "refused" in err and "Traceback" not in err  # it said why it was waiting
    finally:
        broker.stop()


def test_watch_with_count_and_no_broker_keeps_saying_it_is_waiting_and_why(watch) -> None:
    from tests.ports import free_port

    w = watch("--port", str(free_port()), "--count", "1")
    stderr: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in w.proc.stderr or ():
            stderr.put(line)

    threading.Thread(target=read, daemon=True).start()
    said: list[str] = []
    deadline = time.monotonic() + 120  # a condition with a generous bound: the old tool never said it
    while (left := deadline - time.monotonic()) > 0 and not any("still waiting" in line for line in said):
        try:
            said.append(stderr.get(timeout=left))
        except queue.Empty:
            break
    assert said and "still waiting for the broker at localhost:" in said[-1], said
    assert "refused" in said[-1] and "retrying (Ctrl-C to stop)" in said[-1]
    assert w.proc.poll() is None  # waiting, as documented, not given up


def test_a_password_on_the_command_line_is_refused_with_what_to_do_instead(watch) -> None:
    status, err, _ = watch("--username", "u", "--password", "secret").finish()
    assert status == 2 and "--password-file" in err and "Traceback" not in err


def test_a_bad_setting_is_one_clear_line(watch) -> None:
    status, err, _ = watch("--device-id", "a/b").finish()
    assert status == 2 and "--device-id" in err and "Traceback" not in err


@needs_secure_broker
def test_watch_with_a_wrong_password_exits_with_a_clear_error(secure: SecureBroker, watch) -> None:
    args = ["--port", str(secure.tls), "--ca-file", str(secure.pki.ca), "--username", DEVICE]
    status, err, _ = watch(*args, "--password-file", str(secure.secrets / "wrong")).finish()
    assert status == 2 and "refused the connection" in err and "Traceback" not in err


@needs_secure_broker
def test_watch_over_tls_with_a_good_password_shows_the_stream(
    make_publisher, secure: SecureBroker, watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_publisher(port=secure.plain, auth={"username": DEVICE, "password_file": str(secure.secrets / "good")})
    monkeypatch.setenv("EE_WATCH_PASSWORD", (secure.secrets / "good").read_text().strip())
    args = ["--port", str(secure.tls), "--ca-file", str(secure.pki.ca), "--username", DEVICE]
    status, err, lines = watch(*args, "--password-env", "EE_WATCH_PASSWORD", "--json", "--count", "1").finish()
    assert status == 0, err
    assert json.loads(lines[0])["payload"] == "online"


def test_the_table_model_renders_rows_per_face_and_a_row_without_faces() -> None:
    state = WatchState()
    state.update("a", "availability", "online")
    state.update("a", "emotion", {"emotion": "none", "score": None})
    state.update("b", "stats", {"fps": 9.96})
    state.update("b", "faces", {"main_face": 2, "faces": [{"id": 2, "emotion": "sad", "score": 0.5}]})
    assert not state.update("b", "faces", "not an object")
    assert state.rows("a") == [("a", "online", "-", "-", "none", "-")]
    assert state.rows("b") == [("b", "?", "10.0", "2*", "sad", "0.50")]
    table = state.table().splitlines()
    assert table[0] == format_row(COLUMNS) and "1 unreadable" in table[-1]


def test_watch_reads_the_broker_settings_from_a_device_config_without_taking_its_identity(
    make_publisher, broker: Broker, tmp_path: Path, watch
) -> None:
    device = make_publisher(base="home/cams")
    config = tmp_path / "device.toml"
    config.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nbase = "home/cams"\n'
        f'device_id = "{DEVICE}"\nclient_id = "emotion-edge-{DEVICE}"\n'
    )
    status, err, lines = watch("--config", str(config), "--json", "--count", "1").finish()
    assert status == 0, err
    assert json.loads(lines[0])["topic"] == f"home/cams/{DEVICE}/availability"
    time.sleep(0.3)
    assert device.connected and device.figures()["connects"] == 1  # the device was not pushed off


def test_on_a_terminal_the_table_is_redrawn_in_place(make_publisher, broker: Broker) -> None:
    from edge.mqtt.config import MqttConfig
    from edge.mqtt.watch import run_watch

    p = make_publisher()
    p.handle_frame(frame(1, face(6, "neutral", 0.66)))
    p.handle_stats(STATS)
    wait_until(lambda: p.figures()["sent"] >= 11, what="published")  # 9 state + faces + stats
    config = MqttConfig.from_dict({"host": broker.host, "port": broker.port})
    out, err = io.StringIO(), io.StringIO()
    # The device's three retained topics (availability, emotion, presence) arrive, then the count ends it.
    assert run_watch(config, DEVICE, False, out, err, count=3, interactive=True) == 0
    screen = out.getvalue().split("\x1b[H\x1b[2J")[-1].splitlines()
    assert screen[0].split() == list(COLUMNS)
    assert screen[1].split() == [DEVICE, "online", "-", "-", "neutral", "0.66"]


def test_a_several_camera_device_shows_a_row_per_camera_with_its_faces_and_fps(
    make_publisher, broker: Broker, watch
) -> None:
    p = make_publisher(cameras=("door", "desk"))
    w = watch("--host", broker.host, "--port", str(broker.port))
    w.wait_line(lambda line: line.split()[:1] == ["DEVICE"])
    p.camera("door").handle_frame(frame(1, face(4, "happy", 0.91)))
    p.camera("desk").handle_frame(frame(1, face(7, "sad", 0.55)))
    p.camera("door").handle_stats({"state": "ok", "fps": 12.0, "frames": 10, "latency_ms": {}})
    door = w.wait_line(lambda line: line.split()[:1] == [f"{DEVICE}/door"] and "4*" in line.split())
    desk = w.wait_line(lambda line: line.split()[:1] == [f"{DEVICE}/desk"] and "7*" in line.split())
    assert door.split()[1] == "online" and door.split()[3:] == ["4*", "happy", "0.91"]
    assert desk.split()[3:] == ["7*", "sad", "0.55"]
    w.wait_line(lambda line: line.split()[:3] == [f"{DEVICE}/door", "online", "12.0"])  # its fps from the stats
    p.close()  # offline: every camera of the device says so, with no stale figures
    w.wait_line(lambda line: line.split() == [f"{DEVICE}/desk", "offline", "-", "-", "-", "-"])


def test_a_camera_named_in_forged_stats_is_cleaned_and_capped() -> None:
    state = WatchState(max_devices=3)
    state.update("dev", "availability", "online")
    cameras = {"\x1b[2Jevil/x": {"fps": 5}, **{f"c{i}": {"fps": 1} for i in range(10)}}
    state.update("dev", "stats", {"fps": 1.0, "cameras": cameras})
    assert len(state.devices) == 3 and state.left_out
    cameras_shown = [key for key in state.devices if key != "dev"]
    assert cameras_shown and all("\x1b" not in key and key.count("/") == 1 for key in cameras_shown)
