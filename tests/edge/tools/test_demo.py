"""`emotion-edge demo`: the project's own clip of real faces, a broker it starts itself, a subscriber
that sees the contract, and pictures to look at; and clear words when something it needs is missing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import pytest

from edge.tools.demo_subscriber import summarise
from edge.tools.local_broker import find_mosquitto, has_amqtt
from tests.edge.conftest import read_clip
from tests.edge.mqtt.clients import validate

ROOT = Path(__file__).resolve().parents[3]

try:
    import skimage  # noqa: F401

    HAS_SKIMAGE = True
except ImportError:
    HAS_SKIMAGE = False
needs_skimage = pytest.mark.skipif(not HAS_SKIMAGE, reason="scikit-image is not installed (pip install '.[demo]')")


@pytest.fixture(scope="module")
def clip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-cache")


def run_demo(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "demo", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_skimage
@pytest.mark.shared
def test_the_demo_clip_is_made_from_scikit_images_photos_and_shows_the_faces_it_promises(
    tmp_path: Path, yunet_model: Path
) -> None:
    from edge.detect import YuNetDetector
    from edge.tools.demo_clip import FPS, cached_demo_clip

    clip = cached_demo_clip(tmp_path, yunet_model)
    facts = json.loads(clip.with_suffix(".json").read_text())
    assert "public domain" in facts["photos"]["astronaut"] and "CC0" in facts["photos"]["camera"]
    assert facts["checked_by_detector"]
    frames = read_clip(clip)
    assert len(frames) == facts["frames"] and frames[0].shape == (480, 640, 3)
    detector = YuNetDetector(yunet_model, max_side=320)
    # Read back from the encoded file: one face, then two, then none, then one again.
    for seconds, faces in ((3.0, 1), (6.5, 2), (10.0, 0), (11.9, 1)):
        assert len(detector.detect(frames[round(seconds * FPS)])) == faces, f"at {seconds} s"
    assert cached_demo_clip(tmp_path, yunet_model) == clip  # made once, then reused


BROKERS = [
    pytest.param("mosquitto", marks=pytest.mark.skipif(find_mosquitto() is None, reason="Mosquitto is not installed")),
    pytest.param("amqtt", marks=pytest.mark.skipif(not has_amqtt(), reason="amqtt is not installed")),
]


@needs_skimage
@pytest.mark.shared
@pytest.mark.parametrize("broker", BROKERS)
def test_the_demo_runs_the_device_publishes_through_its_own_broker_and_shows_what_a_subscriber_gets(
    broker: str, tmp_path: Path, clip_cache: Path, shipped_model: Path, yunet_model: Path
) -> None:
    out = tmp_path / "demo"
    done = run_demo(
        *("--model", str(shipped_model), "--detector-model", str(yunet_model), "--broker-program", broker),
        *("--out", str(out), "--cache-dir", str(clip_cache), "--frames", "40"),
        *("--web-port", "0"),  # a free port: the other broker's run may hold 8080 in another xdist worker
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "broker: " in done.stdout and "started for this demo" in done.stdout
    assert re.search(r"live view: http://127\.0\.0\.1:\d+/", done.stdout)  # the browser view, on this machine
    assert "subscriber <- emotion-edge/demo/availability: online" in done.stdout
    assert "subscriber <- emotion-edge/demo/availability: offline" in done.stdout
    assert "subscriber <- emotion-edge/demo/faces: frame" in done.stdout
    received = [json.loads(line) for line in (out / "messages.jsonl").read_text().splitlines()]
    kinds = {m["topic"].rsplit("/", 1)[1] for m in received if m["topic"].startswith("emotion-edge/demo/")}
    assert {"availability", "faces", "emotion"} <= kinds
    for message in received:
        kind = message["topic"].rsplit("/", 1)[1]
        if kind in ("faces", "emotion", "stats"):
            validate(kind, message["payload"])
    assert any(m["payload"]["faces"] for m in received if m["topic"].endswith("/faces"))
    assert any(m["topic"].startswith("homeassistant/") for m in received)
    for name in ("annotated.mp4", "annotated.gif", "annotated.png"):
        assert (out / name).stat().st_size > 0, name
    still = cv2.imread(str(out / "annotated.png"))
    assert still is not None and still.shape == (480, 640, 3)


def test_the_demo_without_a_face_detector_says_how_to_get_one(tmp_path: Path) -> None:
    # In an empty folder (no models/, no ../shared) and with downloads refused by a dead proxy.
    dead_proxy = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": ""}
    done = run_demo("--out", str(tmp_path / "o"), cwd=tmp_path, env=dead_proxy)
    assert done.returncode == 2
    assert "YuNet face detector" in done.stderr and "emotion-edge models fetch" in done.stderr
    assert "face_detection_yunet.onnx" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.shared
def test_the_demo_without_the_emotion_model_names_it(tmp_path: Path, yunet_model: Path) -> None:
    missing = tmp_path / "nope.onnx"
    done = run_demo("--model", str(missing), "--detector-model", str(yunet_model), "--source", str(tmp_path))
    assert done.returncode == 2
    assert f"the emotion model {missing} is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_each_kind_of_message_is_summarised_in_one_line() -> None:
    face = {"id": 3, "emotion": "happy", "score": 0.8712}
    assert summarise("availability", "online") == "online"
    assert summarise("faces", {"frame": 7, "faces": [face]}) == "frame 7: #3 happy 0.87"
    assert summarise("faces", {"frame": 9, "faces": []}) == "frame 9: no face in view"
    assert summarise("emotion", {"emotion": "happy", "score": 0.8712, "face_id": 3}) == "happy 0.87 (face #3)"
    assert summarise("emotion", {"emotion": "none", "score": None, "face_id": None}) == "none (no face in view)"
    stats = {"fps": 14.8, "frames": 300, "faces": 2, "backend": "onnxruntime", "model": {"name": "m", "version": "1"}}
    assert summarise("stats", stats) == "14.8 fps, 300 frames, 2 face(s) now, onnxruntime, model m 1"
    assert summarise("discovery", {"name": "Emotion"}) == "Home Assistant discovery: 'Emotion'"
    seen = {"faces": 2, "occupied": True, "emotion": "happy", "score": 0.8712, "time": "2024-06-10T06:13:20.123Z"}
    assert summarise("presence", seen) == "2 face(s), occupied, happy 0.87 at 2024-06-10T06:13:20.123Z"
    empty = {"faces": 0, "occupied": False, "emotion": "none", "score": None, "time": "2024-06-10T06:13:24.500Z"}
    assert summarise("presence", empty) == "0 face(s), nobody, none at 2024-06-10T06:13:24.500Z"


class Lines:
    """A running process's output, read line by line in the background, so a test can wait on a line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(text in line for line in self.lines), timeout_s)

    def text(self) -> str:
        self._thread.join(10)
        return "".join(self.lines)


@needs_skimage
@pytest.mark.shared
def test_ctrl_c_stops_the_demo_cleanly_with_its_broker_still_up_for_the_goodbye(
    tmp_path: Path, clip_cache: Path, shipped_model: Path, yunet_model: Path
) -> None:
    # Ctrl+C in a terminal signals the whole foreground process group: the demo and every child
    # started in it. The demo is started in a group of its own here, as a shell starts a job.
    inputs = ["--model", str(shipped_model), "--detector-model", str(yunet_model), "--cache-dir", str(clip_cache)]
    inputs += ["--out", str(tmp_path / "out")]
    demo = subprocess.Popen(
        [sys.executable, "-m", "emotion_edge.cli", "demo", "--loop", "--no-web", *inputs],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Lines(demo.stdout)  # type: ignore[arg-type]
    try:
        assert output.wait_for("subscriber <- emotion-edge/demo/faces: frame", 120), output.text()[-3000:]
        os.killpg(demo.pid, signal.SIGINT)
        code = demo.wait(60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
    text = output.text()
    assert code == 0, text[-3000:]
    assert "subscriber <- emotion-edge/demo/availability: offline" in text  # the broker heard the goodbye
    assert "mqtt forget" not in text and "could not remove" not in text, text[-3000:]
    assert "What the subscriber received" in text
    # What happens after Ctrl+C is said: the previews take a moment.
    assert re.search(r"writing \S*annotated\.gif and annotated\.png", text), text[-3000:]
    assert (tmp_path / "out" / "annotated.gif").stat().st_size > 0


def test_the_gif_of_a_long_run_shows_only_its_last_seconds(tmp_path: Path) -> None:
    from PIL import Image, ImageSequence

    from edge.tools.demo import write_previews

    video = tmp_path / "long.mp4"
    fps = 15.0
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (160, 120))
    for i in range(round(40 * fps)):  # 40 s of --loop
        writer.write(np.full((120, 160, 3), i % 256, np.uint8))
    writer.release()
    gif, still = write_previews(video, tmp_path)
    assert gif is not None and still is not None
    with Image.open(gif) as image:
        shown_ms = sum(frame.info["duration"] for frame in ImageSequence.Iterator(image))
    assert 5_000 <= shown_ms <= 15_000  # a few seconds, the end of the run
