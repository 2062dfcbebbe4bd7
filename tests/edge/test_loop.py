"""The whole loop on real clips of real faces: source, YuNet, crop, ONNX Runtime, tracker, smoother, sinks."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.align import crop_faces
from edge.capture import FrameGrabber
from edge.classify import Classifier
from edge.config import DeviceConfig
from edge.contract import CropPolicy
from edge.loop import FrameLoop
from edge.pipeline import FacePipeline, build_pipeline
from edge.results import FrameResult
from edge.service.runner import run_device
from edge.sources import make_source
from tests.edge.conftest import MjpegCamera

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[2]
MakeConfig = Callable[..., DeviceConfig]


def read_results(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["type"] == "frame"], [r for r in records if r["type"] == "stats"]


class CollectingSink:
    """A sink that keeps what it is given, as a test's window on the loop's output."""

    def __init__(self) -> None:
        self.frames: list[FrameResult] = []
        self.stats: list[dict[str, Any]] = []
        self.closed = False

    def handle_frame(self, result: FrameResult) -> None:
        self.frames.append(result)

    def handle_stats(self, stats: dict[str, Any]) -> None:
        self.stats.append(stats)

    def close(self) -> None:
        self.closed = True


class BrokenSink(CollectingSink):
    def handle_frame(self, result: FrameResult) -> None:
        raise ConnectionError("broker unreachable")


def run_clip(config: DeviceConfig, sinks: list, max_frames: int | None = None) -> tuple[FrameLoop, Any]:
    pipeline = build_pipeline(config)
    grabber = FrameGrabber(make_source(config.source.uri), keep_latest=False).start()
    loop = FrameLoop(grabber, pipeline, sinks, stats_interval_s=config.stats.interval_s)
    try:
        summary = loop.run(max_frames=max_frames)
    finally:
        grabber.stop()
    return loop, summary


def test_run_over_a_clip_yields_one_result_per_frame_with_the_face_in_it(
    face_clip: Path, device_config: MakeConfig, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    config = device_config(source={"uri": str(face_clip), "realtime": False}, output={"results": str(results)})
    assert run_device(config) == 0
    frames, stats = read_results(results)
    assert [f["frame_index"] for f in frames] == list(range(30))
    assert all((f["width"], f["height"]) == (640, 480) for f in frames)
    with_one_face = [f for f in frames if len(f["faces"]) == 1]
    assert len(with_one_face) >= 27
    classes = build_pipeline(config).classes
    for f in with_one_face:
        face = f["faces"][0]
        x, y, w, h = face["box"]
        assert 160 < x + w / 2 < 480 and 120 < y + h / 2 < 360  # the face drifts around the centre
        assert face["emotion"] in classes and set(face["scores"]) == set(classes)
        assert sum(face["raw_scores"].values()) == pytest.approx(1.0, abs=1e-3)
        assert face["score"] == pytest.approx(face["scores"][face["emotion"]], abs=1e-3)
        assert f["latency_ms"] > 0
    assert stats and stats[-1]["frames"] == 30 and stats[-1]["dropped_frames"] == 0


@pytest.mark.realtime(
    reason="a face keeps its id while frames come within tracker.grace_s (0.5 s); emulated, one takes seconds"
)
def test_a_face_keeps_its_id_through_the_clip(face_clip: Path, device_config: MakeConfig) -> None:
    sink = CollectingSink()
    run_clip(device_config(source={"uri": str(face_clip)}), [sink])
    ids = Counter(face.face_id for frame in sink.frames for face in frame.faces)
    ((_, count),) = ids.most_common(1)
    assert count >= 0.8 * sum(ids.values())


@pytest.mark.realtime(reason="ids hold while frames come within tracker.grace_s (0.5 s); emulated, one takes seconds")
def test_four_faces_get_four_ids_that_hold_across_frames(four_face_clip: Path, device_config: MakeConfig) -> None:
    sink = CollectingSink()
    run_clip(device_config(source={"uri": str(four_face_clip)}), [sink])
    assert len(sink.frames) == 20
    full = [frame for frame in sink.frames if len(frame.faces) == 4]
    assert len(full) >= 16
    for frame in full:
        assert len({face.face_id for face in frame.faces}) == 4
        assert frame.main_id in {face.face_id for face in frame.faces}  # the pipeline's main face, handed on
    assert len({face.face_id for frame in sink.frames for face in frame.faces}) <= 8


def test_smoothing_changes_a_faces_label_no_more_often_than_the_raw_answer(
    face_clip: Path, device_config: MakeConfig
) -> None:
    sink = CollectingSink()
    run_clip(device_config(source={"uri": str(face_clip)}), [sink])
    raw: dict[int, list[str]] = {}
    smooth: dict[int, list[str]] = {}
    for frame in sink.frames:
        for face in frame.faces:
            raw.setdefault(face.face_id, []).append(max(face.raw_scores, key=face.raw_scores.__getitem__))
            smooth.setdefault(face.face_id, []).append(face.emotion)

    def changes(labels: list[str]) -> int:
        return sum(a != b for a, b in itertools.pairwise(labels))

    for face_id in raw:
        assert changes(smooth[face_id]) <= changes(raw[face_id])


class CountingClassifier:
    """The real classifier, noting the size of every batch it is given."""

    def __init__(self, real: Classifier) -> None:
        self.real, self.info, self.backend = real, real.info, real.backend
        self.batches: list[int] = []

    def predict(self, crops: np.ndarray) -> np.ndarray:
        self.batches.append(len(crops))
        return self.real.predict(crops)


def test_all_faces_of_a_frame_go_through_the_model_in_one_batch(
    four_face_clip: Path, device_config: MakeConfig
) -> None:
    built = build_pipeline(device_config())
    counting = CountingClassifier(built.classifier)
    pipeline = FacePipeline(built.detector, counting, built.policy, built.tracker, built.smoother)
    capture = cv2.VideoCapture(str(four_face_clip))
    ok, image = capture.read()
    capture.release()
    assert ok
    faces, _ = pipeline.process(image, 0.0)
    assert counting.batches == [len(faces)] == [4]


def test_the_crop_comes_from_the_models_policy_unless_the_configuration_overrides_it(
    face_clip: Path, device_config: MakeConfig
) -> None:
    plain = build_pipeline(device_config())
    assert plain.policy == plain.classifier.info.crop
    tuned = build_pipeline(device_config(model={"crop_margin": 0.3, "crop_align": False}))
    assert (tuned.policy.margin, tuned.policy.align) == (0.3, False)
    assert tuned.policy.size == plain.policy.size
    capture = cv2.VideoCapture(str(face_clip))
    image = capture.read()[1]
    capture.release()
    faces = plain.detector.detect(image)
    # The one crop implementation (edge.align, shared with training) produces the model's input.
    crops = crop_faces(image, faces, plain.policy)
    assert crops.shape == (1, 48, 48) and crops.dtype == np.uint8


def test_a_broken_sink_is_counted_and_the_loop_goes_on(face_clip: Path, device_config: MakeConfig) -> None:
    good = CollectingSink()
    _, summary = run_clip(device_config(source={"uri": str(face_clip)}), [BrokenSink(), good], max_frames=10)
    assert summary.frames == 10 and len(good.frames) == 10
    assert summary.stats["sink_errors"] == 10


def test_a_frame_the_pipeline_cannot_take_is_counted_and_skipped(face_clip: Path, device_config: MakeConfig) -> None:
    built = build_pipeline(device_config())
    # Crops of the wrong size make ONNX Runtime refuse every batch: a real failure on each frame.
    wrong = FacePipeline(built.detector, built.classifier, CropPolicy(size=40), built.tracker, built.smoother)
    grabber = FrameGrabber(make_source(str(face_clip)), keep_latest=False).start()
    sink = CollectingSink()
    try:
        summary = FrameLoop(grabber, wrong, [sink]).run()
    finally:
        grabber.stop()
    # Frames without a face would pass; a clip on which no frame passes is a failure, not an end.
    assert summary.reason == ("source ended" if sink.frames else "failed")
    assert summary.stats["frame_errors"] >= 27
    assert summary.stats["frame_errors"] + len(sink.frames) == 30


def test_a_frame_limit_stops_the_loop(face_clip: Path, device_config: MakeConfig) -> None:
    sink = CollectingSink()
    _, summary = run_clip(device_config(source={"uri": str(face_clip)}), [sink], max_frames=7)
    assert summary.reason == "frame limit" and len(sink.frames) == 7


def test_record_writes_the_annotated_stream(face_clip: Path, device_config: MakeConfig, tmp_path: Path) -> None:
    out = tmp_path / "annotated.avi"
    config = device_config(source={"uri": str(face_clip), "realtime": False}, output={"record": str(out)})
    assert run_device(config, max_frames=12) == 0
    recorded, original = cv2.VideoCapture(str(out)), cv2.VideoCapture(str(face_clip))
    assert int(recorded.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    first, plain = recorded.read()[1], original.read()[1]
    recorded.release()
    original.release()
    assert first.shape == plain.shape
    assert np.abs(first.astype(int) - plain.astype(int)).max() > 100  # boxes and labels are drawn on it


def test_a_record_path_in_a_missing_folder_fails_before_the_camera_opens(
    face_clip: Path, device_config: MakeConfig, tmp_path: Path
) -> None:
    config = device_config(source={"uri": str(face_clip)}, output={"record": str(tmp_path / "no" / "x.mp4")})
    with pytest.raises(RuntimeError, match=r"--record .*x.mp4: directory .*no does not exist"):
        run_device(config)


class UnplugAfter(CollectingSink):
    """Pulls the camera's plug for good once it has delivered ``frames`` results."""

    def __init__(self, camera: MjpegCamera, frames: int) -> None:
        super().__init__()
        self.camera, self.limit = camera, frames

    def handle_frame(self, result: FrameResult) -> None:
        super().handle_frame(result)
        if len(self.frames) == self.limit:
            self.camera.unplug()


def test_a_source_that_is_given_up_ends_the_run_with_status_1(device_config: MakeConfig) -> None:
    camera = MjpegCamera(frames_per_connection=5)
    sink = UnplugAfter(camera, frames=3)
    config = device_config(source={"uri": camera.url, "retry_initial_s": 0.01, "retry_max_s": 0.02, "max_retries": 2})
    assert run_device(config, extra_sinks=[sink]) == 1
    assert len(sink.frames) >= 3 and sink.closed


# --- the command, as a process ------------------------------------------------------------------


def emotion_edge(*args: str) -> list[str]:
    return [sys.executable, "-m", "emotion_edge.cli", *args]


def write_config(
    tmp_path: Path, shipped_model: Path, yunet_model: Path, source: Path | str, **source_keys: Any
) -> Path:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in source_keys.items())
    path = tmp_path / "device.toml"
    path.write_text(
        f'[source]\nuri = "{source}"\n{extra}'
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n[stats]\ninterval_s = 0.5\n'
        "[mqtt]\nenabled = false\n"
    )
    return path


def test_the_run_command_processes_a_clip_and_exits_0(
    face_clip: Path, shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, shipped_model, yunet_model, face_clip, realtime=False)
    out = tmp_path / "r.jsonl"
    done = subprocess.run(
        emotion_edge("run", "--config", str(config), "--results", str(out), "--max-frames", "5"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(read_results(out)[0]) == 5
    assert "stopped (frame limit) after 5 frames" in done.stderr


def test_sigterm_stops_the_run_cleanly_releasing_everything(
    face_clip: Path, shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, shipped_model, yunet_model, face_clip, loop=True)
    out = tmp_path / "r.jsonl"
    process = subprocess.Popen(
        emotion_edge("run", "--config", str(config), "--results", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        # The sink flushes with every stats report (each 0.5 s here): data means frames are flowing.
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            if out.exists() and out.stat().st_size > 0:
                break
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "SIGTERM received: stopping" in stderr and "stopped (stopped) after" in stderr
    assert "Traceback" not in stderr
    frames, stats = read_results(out)  # closed properly: every line is whole JSON
    assert frames and stats


def test_a_bad_source_is_one_line_on_stderr_and_status_2(
    shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, shipped_model, yunet_model, "bogus://0")
    done = subprocess.run(
        emotion_edge("run", "--config", str(config)), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 2
    assert "emotion-edge: error: bogus://0: unknown source scheme 'bogus'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_camera_missing_at_start_is_waited_for_and_given_up_only_after_max_retries(
    shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path, shipped_model, yunet_model, Path("/dev/video97"), retry_initial_s=0.1, retry_max_s=0.2, max_retries=2
    )
    done = subprocess.run(
        emotion_edge("run", "--config", str(config)), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "/dev/video97: no such device" in done.stderr and "waiting for it" in done.stderr
    assert "/dev/video97: gave up after 2 attempts to open it (/dev/video97: no such device" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_motion_figures_are_of_the_frames_the_gate_looked_at(device_config: MakeConfig, tmp_path: Path) -> None:
    from edge.tools.bench_clip import make_empty_room

    clip = make_empty_room(tmp_path / "empty.avi", frames=60)
    # Read as fast as the loop takes them: in an empty room the gate rests between its looks, 15 a second.
    loop, summary = run_clip(device_config(source={"uri": str(clip), "realtime": False}), [CollectingSink()])
    motion = loop.stats.stages["motion"]
    assert summary.stats["frames"] == 60 and summary.stats["frames_gated"] >= 55
    assert 0 < motion.count < 60  # the frames it rested on are not counted as 0 ms
    assert motion.summary()["p50"] > 0
