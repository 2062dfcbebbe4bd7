"""The systemd service: the unit file, the installed configuration, and a real `emotion-edge run` under a
notify socket, with a real camera stream (MJPEG over HTTP) and a real broker.

systemd itself cannot run in a test; what it would see can: the datagrams on $NOTIFY_SOCKET, the
exit status after SIGTERM, and the `offline` the broker hands to subscribers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from edge.config import load_config
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber
from tests.edge.service.service_manager import Notification, ServiceManager

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "systemd" / "emotion-edge.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")


def unit_settings() -> dict[str, list[str]]:
    """``Section.Key`` -> every value it is given (keys such as DeviceAllow= repeat)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "": 1}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min|h|)", value)
    assert match, f"not a simple time span: {value}"
    return float(match.group(1)) * units[match.group(2)]


# --- the unit ------------------------------------------------------------------------------------


@needs_systemd_analyze
def test_the_unit_passes_systemd_analyze_verify() -> None:
    out = subprocess.run([str(ROOT / "systemd" / "verify-unit.sh")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("passes systemd-analyze verify") == 2  # alone, and with the Jetson drop-in


@needs_systemd_analyze
def test_systemd_analyze_security_rates_the_unit_ok_or_better() -> None:
    out = subprocess.run(
        [str(SYSTEMD_ANALYZE), "security", "--offline=true", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0 and "offline" in out.stderr:
        pytest.skip(f"this systemd-analyze cannot score a unit file offline: {out.stderr.strip()}")
    verdict = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", out.stdout)
    assert verdict, out.stdout[-500:]
    assert verdict.group(2) in ("PERFECT", "SAFE", "OK"), verdict.group(0)


def test_the_unit_is_a_notify_service_with_a_watchdog_and_a_restart_that_cannot_loop_hot() -> None:
    s = unit_settings()
    assert s["Service.Type"] == ["notify"]
    assert s["Service.NotifyAccess"] == ["main"]
    assert s["Service.ExecStart"] == [
        "/opt/emotion-edge/venv/bin/emotion-edge run --config /etc/emotion-edge/config.toml"
    ]
    assert s["Service.Restart"] == ["on-failure"]
    watchdog = seconds(s["Service.WatchdogSec"][0])
    restart = seconds(s["Service.RestartSec"][0])
    interval = seconds(s["Unit.StartLimitIntervalSec"][0])
    burst = int(s["Unit.StartLimitBurst"][0])
    assert restart >= 5, "restarts must wait, or a failing start loops hot"
    # A start that fails at once hits the limit (all its tries fit in the interval) and stops...
    assert burst * (restart + 5) < interval
    # ...while a hung camera (one try per watchdog period) never does, and is retried for ever.
    assert interval / (watchdog + restart) < burst
    # The loop pings at half the interval and a frame takes well under a second.
    assert watchdog >= 10


def test_the_unit_stops_within_the_time_a_clean_stop_needs() -> None:
    s = unit_settings()
    assert s["Service.KillSignal"] == ["SIGTERM"]
    from edge.mqtt.config import MqttConfig

    flush = MqttConfig.from_dict({}).flush_timeout_s
    camera_release = 3.0  # FrameGrabber.stop waits this long for a hung capture thread
    assert seconds(s["Service.TimeoutStopSec"][0]) >= flush + camera_release + 5


def test_the_unit_is_hardened_and_writes_only_its_state_directory() -> None:
    s = unit_settings()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "emotion-edge",
        "ReadWritePaths": "%S/emotion-edge",
        "User": "emotion-edge",
        "SupplementaryGroups": "video",
        "DevicePolicy": "closed",
        "CapabilityBoundingSet": "",
    }.items():
        assert s[f"Service.{key}"] == [value], key
    allowed = s["Service.DeviceAllow"]
    assert "char-video4linux rw" in allowed
    # char-NAME matches /proc/devices group names, which never name the Jetson GPU: its nodes are
    # allowed by path in the drop-in the installer generates (tests/edge/service/test_devices.py).
    assert not [entry for entry in allowed if "nv" in entry or "host1x" in entry]
    assert s["Service.LoadCredential"] == ["mqtt-password:/etc/emotion-edge/mqtt-password"]


def test_the_install_scripts_are_valid_shell() -> None:
    for script in ("install.sh", "uninstall.sh", "verify-unit.sh"):
        out = subprocess.run(["bash", "-n", str(ROOT / "systemd" / script)], capture_output=True, text=True)
        assert out.returncode == 0, f"{script}: {out.stderr}"


def test_the_installed_configuration_is_the_annotated_example_with_absolute_service_paths(tmp_path: Path) -> None:
    out = tmp_path / "config.toml"
    cmd = [sys.executable, str(ROOT / "systemd" / "device_config.py"), "--model", "emotion-edge-int8.onnx"]
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = load_config(out, env={})
    assert config.model.path == "/opt/emotion-edge/models/emotion-edge-int8.onnx"
    assert config.detector.model == "/opt/emotion-edge/models/face_detection_yunet.onnx"
    assert config.model.engine_dir == "/var/lib/emotion-edge"  # the unit's StateDirectory
    assert config.mqtt.host == "localhost"
    text = out.read_text()
    assert "/run/credentials/emotion-edge.service/mqtt-password" in text  # where LoadCredential puts it
    example_comments = [
        line for line in (ROOT / "systemd" / "emotion-edge.toml").read_text().splitlines() if "#" in line
    ]
    kept = sum(1 for line in example_comments if line in text)
    assert kept >= len(example_comments) - 3  # only the three rewritten lines differ

    out.write_text("# the user's own\n")
    again = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 0 and out.read_text() == "# the user's own\n"  # kept on re-install


# --- a running service ---------------------------------------------------------------------------


class StreamingCamera:
    """An IP camera: multipart MJPEG over HTTP at ``fps`` from the frames of a clip, looped.
    ``hang()`` stops sending without closing the connection, as a camera whose driver hangs."""

    def __init__(self, clip: Path, fps: float = 15.0) -> None:
        capture = cv2.VideoCapture(str(clip))
        self.jpegs = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            self.jpegs.append(cv2.imencode(".jpg", frame)[1].tobytes())
        capture.release()
        assert self.jpegs, f"no frames in {clip}"
        self.running = threading.Event()
        self.running.set()
        self.released = threading.Event()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not camera.released.is_set():
                        if not camera.running.is_set():
                            camera.released.wait(0.1)  # hung: the connection stays open, nothing comes
                            continue
                        jpeg = camera.jpegs[i % len(camera.jpegs)]
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                        self.wfile.write(head + jpeg + b"\r\n")
                        i += 1
                        time.sleep(1 / fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hang(self) -> None:
        self.running.clear()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def camera(face_clip: Path) -> Iterator[StreamingCamera]:
    cam = StreamingCamera(face_clip)
    yield cam
    cam.close()


def start_service(
    tmp_path: Path, camera: StreamingCamera, broker: Broker, manager: ServiceManager, shipped_model: Path, yunet: Path
) -> subprocess.Popen[str]:
    """`emotion-edge run` as systemd would start it: NOTIFY_SOCKET and a 1 s watchdog in its environment."""
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{camera.url}"\nretry_initial_s = 0.2\n'
        f'[detector]\nmodel = "{yunet}"\nthreads = 1\n[model]\npath = "{shipped_model}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "svc"\nflush_timeout_s = 1.0\n'
    )
    env = {**os.environ, **manager.env(watchdog_usec=1_000_000)}
    return subprocess.Popen(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_service(process: subprocess.Popen[str], timeout: float) -> tuple[int, str, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stderr, time.monotonic() - started


def fps_and_faces(n: Notification) -> bool:
    return re.search(r"[1-9][\d.]* fps, [1-9]\d* faces?,", n.fields.get("STATUS", "")) is not None


@pytest.mark.shared
@pytest.mark.realtime(reason="three watchdog pings in 2.5 s at a 1 s watchdog is a wall-clock rate")
def test_a_running_service_reports_ready_status_and_watchdog_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
    camera: StreamingCamera,
    broker: Broker,
    subscriber: Subscriber,
    manager: ServiceManager,
    shipped_model: Path,
    yunet_model: Path,
) -> None:
    process = start_service(tmp_path, camera, broker, manager, shipped_model, yunet_model)
    try:
        ready = manager.wait_for(lambda n: n.fields.get("READY") == "1", 60, what="READY=1")
        assert manager.with_key("STATUS")[0].fields["STATUS"].startswith("loading the model")
        # While frames flow: pings at about half the 1 s watchdog, and a status with fps and faces.
        time.sleep(2.5)
        pings = manager.with_key("WATCHDOG", "1", since=ready.at)
        assert len(pings) >= 3
        status = manager.wait_for(fps_and_faces, 10, "STATUS with fps and faces")
        assert status.at > ready.at
        code, stderr, took = stop_service(process, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, stderr
    stopping = manager.wait_for(lambda n: n.fields.get("STOPPING") == "1", 5, "STOPPING=1")
    assert stopping.fields["STATUS"] == "stopping: stopped"
    assert took < 20  # the unit's TimeoutStopSec
    subscriber.wait_topic("emotion-edge/svc/availability", "offline", timeout=10)


@pytest.mark.shared
@pytest.mark.realtime(reason="no ping after the hang needs the frame in flight to end within the 1 s watchdog")
def test_a_hung_camera_stops_the_watchdog_pings_and_sigterm_still_stops_the_service_cleanly(
    tmp_path: Path,
    camera: StreamingCamera,
    broker: Broker,
    subscriber: Subscriber,
    manager: ServiceManager,
    shipped_model: Path,
    yunet_model: Path,
) -> None:
    process = start_service(tmp_path, camera, broker, manager, shipped_model, yunet_model)
    try:
        ready = manager.wait_for(lambda n: n.fields.get("READY") == "1", 60, what="READY=1")
        manager.wait_for(lambda n: "WATCHDOG" in n.fields and n.at > ready.at + 0.6, 10, "a second ping")
        camera.hang()
        hung_at = time.monotonic()
        # The frame in hand may still finish; after that, silence: systemd would restart us.
        time.sleep(3.5)
        late = manager.with_key("WATCHDOG", since=hung_at + 1.0)
        assert late == [], f"{len(late)} watchdog pings after the camera hung"
        waiting = manager.with_key("STATUS", since=hung_at + 1.0)
        assert waiting and waiting[-1].fields["STATUS"].startswith("no frame from http://127.0.0.1:")
        assert process.poll() is None, "the process must keep running (and retrying) until systemd acts"
        code, stderr, took = stop_service(process, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, stderr
    assert took < 20  # within TimeoutStopSec, even with the capture thread stuck in a read
    manager.wait_for(lambda n: n.fields.get("STOPPING") == "1", 5, "STOPPING=1")
    subscriber.wait_topic("emotion-edge/svc/availability", "offline", timeout=10)
