"""A real IP camera: `emotion-edge run` reads an RTSP stream served on loopback by GStreamer's RTSP
server (tests/edge/rtsp/server.py, a process of the system's Python), loses it when the server is
killed, reports `degraded`, reconnects with backoff when it comes back and publishes again.

Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and GStreamer's good/ugly plugins (x264enc),
which .ci/run installs, and an OpenCV with its FFmpeg backend; skipped with the reason otherwise.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from edge.tools.local_broker import port_open
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Received, Subscriber, validate
from tests.ports import free_port

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[3]
SERVER = Path(__file__).with_name("server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "missing = [e for e in ('multifilesrc', 'jpegdec', 'videoconvert', 'x264enc', 'rtph264pay') "
    "if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
)


def rtsp_server_problem() -> str | None:
    """Why a real RTSP server cannot run here (None: it can)."""
    if not Path(SYSTEM_PYTHON).is_file():
        return f"{SYSTEM_PYTHON} is absent (the RTSP server runs on the system's Python with python3-gi)"
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot probe GStreamer: {exc}"
    if probe.returncode != 0:
        return "GStreamer's RTSP server is not installed (apt install python3-gi gir1.2-gst-rtsp-server-1.0)"
    if probe.stdout.strip():
        return f"GStreamer elements missing: {probe.stdout.strip()} (apt install gstreamer1.0-plugins-good -ugly)"
    if not cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        return "this OpenCV has no FFmpeg backend to read rtsp:// with"
    return None


class RtspCamera:
    """GStreamer's RTSP server on a fixed loopback port, killed and started again by the test."""

    def __init__(self, frames: Path, log: Path) -> None:
        self.frames = frames
        self.log = log
        self.port = free_port()
        self.uri = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER), str(self.port), str(self.frames), "10"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        end = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the RTSP server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def camera(tmp_path: Path, face_clip: Path) -> Iterator[RtspCamera]:
    problem = rtsp_server_problem()
    if problem:
        pytest.skip(problem)
    frames = tmp_path / "frames"
    frames.mkdir()
    capture = cv2.VideoCapture(str(face_clip))
    count = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        cv2.imwrite(str(frames / f"frame-{count:05d}.jpg"), image)
        count += 1
    capture.release()
    assert count > 0, f"{face_clip} has no frames"
    cam = RtspCamera(frames, tmp_path / "rtsp-server.log")
    cam.start()
    yield cam
    cam.kill()


def stats_of(r: Received) -> dict:  # type: ignore[type-arg]
    payload = r.json()
    validate("stats", payload)
    return payload  # type: ignore[no-any-return]


def test_run_reads_an_rtsp_camera_loses_it_reports_degraded_and_resumes_when_it_is_back(
    camera: RtspCamera, shipped_model: Path, yunet_model: Path, broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{camera.uri}"\nretry_initial_s = 0.5\nretry_max_s = 2.0\n'
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n[stats]\ninterval_s = 0.5\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "ipcam"\n'
        "[mqtt.rate]\nstats_interval_s = 0.5\n"
    )
    log = tmp_path / "device.log"
    with log.open("wb") as out:
        device = subprocess.Popen(
            [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = "emotion-edge/ipcam"

    def faces_after(mark: int, timeout: float) -> Received:
        return subscriber.wait_for(
            lambda r: r.topic == f"{base}/faces" and bool(r.json()["faces"]), timeout, mark, what="a face from RTSP"
        )

    def stats_after(mark: int, state: str, timeout: float) -> dict:  # type: ignore[type-arg]
        got = subscriber.wait_for(
            lambda r: r.topic == f"{base}/stats" and r.json().get("state") == state, timeout, mark, what=state
        )
        return stats_of(got)

    try:
        # 1. the stream is read end to end: faces found in it, published, health ok
        faces_after(0, 90)
        ok = stats_after(0, "ok", 30)
        assert ok["fps"] and ok["fps"] > 0

        # 2. the camera goes away: the device says so, and keeps running
        lost_at = subscriber.mark()
        camera.kill()
        degraded = stats_after(lost_at, "degraded", 30)
        assert any("source lost" in r or "no frame" in r for r in degraded["reasons"]), degraded["reasons"]
        time.sleep(4.0)  # long enough for a few reopen attempts against the dead port
        assert device.poll() is None, log.read_text()[-3000:]

        # 3. it comes back: reopened, ok again, publishing again
        camera.start()
        back_at = subscriber.mark()
        faces_after(back_at, 60)
        recovered = stats_after(back_at, "ok", 30)
        assert recovered["reconnects"] >= 1 and recovered["source_failures"] >= 1
    finally:
        device.send_signal(signal.SIGTERM)
        try:
            device.wait(30)
        except subprocess.TimeoutExpired:
            device.kill()
            device.wait(10)
    text = log.read_text()
    assert device.returncode == 0, text[-3000:]
    # reconnected with backoff: the waits between attempts grow, then it reopened
    waits = [float(w) for w in re.findall(r"source lost, reopening .*?; next attempt in ([\d.]+) s", text)]
    assert len(waits) >= 2 and waits == sorted(waits) and waits[-1] > waits[0], waits
    assert "reopened after" in text
    assert "Traceback" not in text
