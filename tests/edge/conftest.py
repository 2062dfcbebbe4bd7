"""Real video material for the device-loop tests (clips written with cv2.VideoWriter into tmp dirs),
and a real MQTT broker on a free port per test with a real subscriber."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import DeviceConfig, validate
from edge.tools.bench_clip import make_bench_clip
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber
from tests.edge.service.service_manager import ServiceManager


def write_numbered_clip(path: Path, frames: int, size: tuple[int, int] = (160, 120), fps: float = 30.0) -> Path:
    """An MJPG clip whose frame i has mean grey level 10 * i (mod 250), so frames are identifiable;
    mild noise gives each frame a JPEG of realistic size."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    noise = np.random.default_rng(0).integers(-4, 5, (size[1], size[0], 3))
    for i in range(frames):
        writer.write(np.clip(noise + 5 + (10 * i) % 240, 0, 255).astype(np.uint8))
    writer.release()
    return path


def read_clip(path: Path, packets: bool = False) -> list[np.ndarray]:
    """Every frame of a clip, decoded; ``packets``: as FFmpeg's raw packets instead (an MJPG clip's JPEGs)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG) if packets else cv2.VideoCapture(str(path))
    assert not packets or capture.set(cv2.CAP_PROP_FORMAT, -1), f"FFmpeg's raw mode refused {path}"
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def frame_level(frame: np.ndarray) -> int:
    return round((float(frame.mean()) - 5) / 10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    s = Subscriber(broker.port).start()
    yield s
    s.stop()


@pytest.fixture
def numbered_clip(tmp_path: Path) -> Callable[[int], Path]:
    return lambda frames: write_numbered_clip(tmp_path / f"numbered-{frames}.avi", frames)


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory: pytest.TempPathFactory, wild_dir: Path, yunet_model: Path) -> Path:
    """30 frames, 640x480, one real face per frame (three photos, ten frames each)."""
    out = tmp_path_factory.mktemp("clips") / "one-face.avi"
    return make_bench_clip(wild_dir, 1, out, frames=30, detector_model=yunet_model)


@pytest.fixture(scope="session")
def four_face_clip(tmp_path_factory: pytest.TempPathFactory, wild_dir: Path, yunet_model: Path) -> Path:
    """20 frames, 640x480, four real faces per frame."""
    out = tmp_path_factory.mktemp("clips") / "four-faces.avi"
    return make_bench_clip(wild_dir, 4, out, frames=20, detector_model=yunet_model)


@pytest.fixture
def device_config(shipped_model: Path, yunet_model: Path) -> Callable[..., DeviceConfig]:
    """A validated configuration for the shipped model and YuNet; keyword tables override sections."""

    def make(**sections: dict) -> DeviceConfig:
        raw: dict[str, dict] = {
            "detector": {"model": str(yunet_model)},
            "model": {"path": str(shipped_model)},
            "stats": {"interval_s": 0.2},
            "mqtt": {"enabled": False},  # hermetic: the MQTT tests start their own broker
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return validate(raw)

    return make


class MjpegCamera:
    """An HTTP server speaking multipart MJPEG like an IP camera; each connection gets
    ``frames_per_connection`` frames and then the server hangs up, as a flaky camera would."""

    def __init__(self, frames_per_connection: int) -> None:
        self.connections = 0
        camera = self
        frame = np.full((120, 160, 3), 128, np.uint8)
        jpeg = cv2.imencode(".jpg", frame)[1].tobytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                camera.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for _ in range(frames_per_connection):
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg))
                    self.wfile.write(jpeg + b"\r\n")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def unplug(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mjpeg_camera() -> Iterator[MjpegCamera]:
    camera = MjpegCamera(frames_per_connection=8)
    yield camera
    camera.unplug()


@pytest.fixture(scope="module")
def real_face_crops(wild_dir: Path, yunet_model: Path, shipped_model: Path) -> np.ndarray:
    """Faces YuNet finds in the first real photos, cropped by the shipped model's own policy."""
    import cv2

    from edge.align import crop_faces
    from edge.detect import create_detector
    from edge.model_meta import read_onnx_metadata
    from edge.tools.bench_clip import wild_photos

    detector = create_detector("yunet", yunet_model, max_side=640)
    policy = read_onnx_metadata(str(shipped_model)).crop
    crops = []
    for photo in wild_photos(wild_dir)[:16]:
        frame = cv2.imread(str(photo))
        faces = detector.detect(frame)[:1]
        if faces:
            crops.append(crop_faces(frame, faces, policy))
    assert len(crops) >= 8, "too few faces found in the real photos"
    return np.concatenate(crops)


@pytest.fixture
def manager() -> Iterator[ServiceManager]:
    """systemd's side of the notify protocol: what the service sends to $NOTIFY_SOCKET."""
    m = ServiceManager()
    yield m
    m.close()
