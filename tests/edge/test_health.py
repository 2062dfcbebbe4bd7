"""The device tells the truth about its health: faults driven for real (a wrong or truncated detector
file, frames that fail in the classifier, a source file deleted mid-run, a source that appears after
the start) against the real loop, the `run` command as a process, systemd's notify socket and a real
MQTT broker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from edge.capture import FrameGrabber
from edge.config import DeviceConfig
from edge.contract import CropPolicy
from edge.detect import DetectorError, YuNetDetector
from edge.loop import FrameLoop
from edge.mqtt.schemas import load_schema
from edge.pipeline import FacePipeline, build_pipeline
from edge.sources import SourceOpenError, SourceSettings, VideoFileSource, make_source, shorten
from tests.edge.forged_model import forge, tiny_graph
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Received, Subscriber
from tests.edge.service.service_manager import ServiceManager
from tests.edge.test_loop import CollectingSink

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[2]
MakeConfig = Callable[..., DeviceConfig]


def failing_pipeline(config: DeviceConfig) -> FacePipeline:
    """The real pipeline with crops of the wrong size: ONNX Runtime refuses every batch with a face."""
    built = build_pipeline(config)
    return FacePipeline(built.detector, built.classifier, CropPolicy(size=40), built.tracker, built.smoother)


# --- the loop --------------------------------------------------------------------------------------


def test_a_classifier_that_fails_on_every_frame_stops_the_loop_as_failed_naming_the_file_and_the_fix(
    face_clip: Path, device_config: MakeConfig, shipped_model: Path
) -> None:
    grabber = FrameGrabber(make_source(str(face_clip), SourceSettings(loop=True)), keep_latest=False).start()
    sink = CollectingSink()
    try:
        summary = FrameLoop(grabber, failing_pipeline(device_config()), [sink], max_failed_frames=5).run()
    finally:
        grabber.stop()
    assert summary.reason == "failed" and summary.frames == 0
    assert summary.error is not None
    assert f"the classifier (onnxruntime, {shipped_model}) failed on 5 frames in a row" in summary.error
    assert "emotion-edge export onnx" in summary.error and "health.max_failed_frames = 5" in summary.error
    last = sink.stats[-1]  # the last report says how it ended
    assert last["state"] == "failed" and last["reasons"] == [summary.error] and last["fps"] == 0


def test_stats_keep_coming_while_frames_fail_saying_degraded_with_0_fps(
    face_clip: Path, device_config: MakeConfig
) -> None:
    source = make_source(str(face_clip), SourceSettings(loop=True))
    grabber = FrameGrabber(source, keep_latest=True, pace_fps=20).start()
    sink = CollectingSink()
    loop = FrameLoop(grabber, failing_pipeline(device_config()), [sink], stats_interval_s=0.2)
    try:
        stopper = threading.Timer(1.5, loop.stop)
        stopper.start()
        summary = loop.run()
    finally:
        grabber.stop()
    assert summary.reason == "stopped"
    assert len(sink.stats) >= 4, "stats must go out on schedule even when no frame is processed"
    for report in sink.stats[1:-1]:
        assert report["state"] == "degraded" and report["fps"] == 0
        assert "frame(s) in a row failed: the classifier (onnxruntime" in report["reasons"][0]


def test_a_model_whose_scores_are_not_finite_on_real_faces_is_degraded_with_the_reason_never_ok(
    face_clip: Path, device_config: MakeConfig, shipped_model: Path, tmp_path: Path
) -> None:
    # The model passes the load check (finite probabilities on mid-grey crops) and gives NaN on every
    # real face: no face can be published, so the health must not say ok (#22: it did, with NaN
    # scores fed to the smoother and every message then refused by the JSON encoder).
    model = tiny_graph(tmp_path / "nan.onnx", nan_on_texture=True, metadata_from=shipped_model)
    source = make_source(str(face_clip), SourceSettings(loop=True))
    grabber = FrameGrabber(source, keep_latest=True, pace_fps=20).start()
    sink = CollectingSink()
    loop = FrameLoop(grabber, build_pipeline(device_config(model={"path": str(model)})), [sink], stats_interval_s=0.2)
    stopper = threading.Thread(target=lambda: (wait_for(lambda: len(sink.stats) >= 5), loop.stop()), daemon=True)
    stopper.start()
    try:
        summary = loop.run()
    finally:
        loop.stop()
        grabber.stop()
    assert summary.reason == "stopped"
    assert all(not r.faces for r in sink.frames), "a face with NaN scores was handed on"
    for report in sink.stats[1:]:
        assert report["state"] == "degraded", report
        assert "scores that are not finite (NaN or infinity)" in report["reasons"][0]
        assert f"the classifier (onnxruntime, {model})" in report["reasons"][0]
    assert sink.stats[-1]["frame_errors"] > 0


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)


def test_a_file_that_yields_no_frame_is_a_failure_not_an_end(face_clip: Path, device_config: MakeConfig) -> None:
    grabber = FrameGrabber(make_source(str(face_clip)), keep_latest=False).start()
    sink = CollectingSink()
    try:
        summary = FrameLoop(grabber, failing_pipeline(device_config()), [sink]).run()
    finally:
        grabber.stop()
    assert summary.reason == "failed" and summary.frames == 0
    assert summary.error is not None and summary.error.startswith(f"{face_clip}: no frame could be processed (30 read")
    assert sink.stats[-1]["state"] == "failed"


# --- the detector file -----------------------------------------------------------------------------


def test_a_truncated_detector_file_is_a_clear_error_naming_the_file_and_the_fetch_command(
    yunet_model: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "face_detection_yunet.onnx"
    truncated.write_bytes(yunet_model.read_bytes()[:50_000])
    with pytest.raises(
        DetectorError, match=r"detector.model .*face_detection_yunet.onnx: OpenCV cannot load it"
    ) as err:
        YuNetDetector(truncated)
    assert "truncated, corrupt or not an ONNX model" in str(err.value) and "emotion-edge models fetch" in str(err.value)


def test_a_detector_file_that_is_not_yunet_is_refused_before_the_camera_opens(shipped_model: Path) -> None:
    with pytest.raises(DetectorError, match=r"is not the YuNet face detector: it loads but cannot detect") as err:
        YuNetDetector(shipped_model)
    assert str(shipped_model) in str(err.value) and "emotion-edge models fetch" in str(err.value)


def emotion_edge(*args: str) -> list[str]:
    return [sys.executable, "-m", "emotion_edge.cli", *args]


def device_toml(
    tmp_path: Path, source: Path | str, detector: Path, model: Path, extra: str = "", source_extra: str = ""
) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(
        f'[source]\nuri = "{source}"\nretry_initial_s = 0.2\nretry_max_s = 0.5\n{source_extra}'
        f'[detector]\nmodel = "{detector}"\n[model]\npath = "{model}"\n[stats]\ninterval_s = 0.5\n{extra}'
    )
    return path


@pytest.mark.parametrize("fault", ["wrong", "truncated"])
def test_run_with_a_wrong_or_truncated_detector_exits_2_with_one_line_and_publishes_nothing(
    fault: str,
    face_clip: Path,
    shipped_model: Path,
    yunet_model: Path,
    broker: Broker,
    subscriber: Subscriber,
    tmp_path: Path,
) -> None:
    detector = shipped_model
    if fault == "truncated":
        detector = tmp_path / "yunet.onnx"
        detector.write_bytes(yunet_model.read_bytes()[:50_000])
    mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "bad"\n'
    config = device_toml(tmp_path, face_clip, detector, shipped_model, mqtt)
    done = subprocess.run(
        emotion_edge("run", "--config", str(config)), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert f"detector.model {detector}" in done.stderr and "emotion-edge models fetch" in done.stderr
    assert "Traceback" not in done.stderr
    time.sleep(0.3)
    assert not subscriber.on("emotion-edge/bad/availability"), "a device that cannot run must not say online"


# --- sources ----------------------------------------------------------------------------------------


def test_a_video_file_deleted_mid_run_is_reported_missing_not_undecodable(face_clip: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    shutil.copy(face_clip, clip)
    source = VideoFileSource(str(clip), SourceSettings(loop=True), clip)
    source.open()
    clip.unlink()
    with pytest.raises(SourceOpenError, match=r"clip.avi: no such file: it was deleted or moved while the device ran"):
        for _ in range(100):  # the end of the file makes it rewind: reopen the file that is gone
            source.read()
    source.close()


def stats_where(
    subscriber: Subscriber, base: str, predicate: Callable[[Any], bool], timeout: float, what: str, start: int = 0
) -> Received:
    def ok(r: Received) -> bool:
        return r.topic == f"{base}/stats" and predicate(r.json())

    return subscriber.wait_for(ok, timeout, start=start, what=what)


def test_a_source_file_deleted_mid_run_degrades_the_state_zeroes_the_figures_clears_the_emotion_and_heals(
    face_clip: Path, shipped_model: Path, yunet_model: Path, broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.avi"
    shutil.copy(face_clip, clip)
    mqtt = (
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "del"\n'
        "[mqtt.rate]\nstats_interval_s = 0.5\nemotion_none_after_s = 1.0\n"
    )
    config = device_toml(tmp_path, clip, yunet_model, shipped_model, mqtt, source_extra="loop = true\n")
    process = subprocess.Popen(
        emotion_edge("run", "--config", str(config)), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    base = "emotion-edge/del"
    try:
        stats_where(subscriber, base, lambda p: p["state"] == "ok" and p["fps"] > 0 and p["faces"] == 1, 60, "ok stats")
        subscriber.wait_for(
            lambda r: r.topic == f"{base}/emotion" and r.json()["emotion"] != "none", 20, what="emotion"
        )
        mark = subscriber.mark()
        clip.unlink()
        lost = stats_where(
            subscriber,
            base,
            lambda p: p["state"] == "degraded" and p["fps"] == 0 and p["faces"] == 0,
            20,
            "degraded stats with 0 fps and 0 faces",
        )
        jsonschema.validate(lost.json(), load_schema("stats"))
        assert any("no such file: it was deleted or moved" in r for r in lost.json()["reasons"]), lost.json()
        subscriber.wait_for(
            lambda r: r.topic == f"{base}/emotion" and r.json()["emotion"] == "none",
            10,
            what="emotion none",
            start=mark,
        )
        assert subscriber.on(f"{base}/availability")[-1].text == "online"
        mark = subscriber.mark()
        shutil.copy(face_clip, clip)  # the file comes back: the device heals by itself
        stats_where(subscriber, base, lambda p: p["state"] == "ok" and p["fps"] > 0, 30, "ok again", start=mark)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr


def test_a_source_that_appears_after_the_start_is_waited_for_alive_and_ready_without_a_restart(
    face_clip: Path, shipped_model: Path, yunet_model: Path, broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    late = tmp_path / "late.avi"  # a USB camera that shows up after the service started, as a file
    mqtt = (
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "late"\n[mqtt.rate]\nstats_interval_s = 0.5\n'
    )
    # A file that is not there yet is waited for only when asked (a typo would wait for ever).
    config = device_toml(tmp_path, late, yunet_model, shipped_model, mqtt, source_extra="wait_for_file = true\n")
    manager = ServiceManager()
    env = {**os.environ, **manager.env(watchdog_usec=1_000_000)}
    process = subprocess.Popen(
        emotion_edge("run", "--config", str(config)), cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    base = "emotion-edge/late"
    try:
        # Alive and saying what it waits for: READY=1 (no start timeout), then watchdog pings.
        ready = manager.wait_for(lambda n: n.fields.get("READY") == "1", 60, what="READY=1")
        # The reason echoes the path cut to its first 80 characters (edge.sources.shorten): a long
        # temporary folder (an xdist worker's) is cut too.
        # systemd's STATUS= line is itself capped, so it may end anywhere after the path it waits for.
        expected = f"degraded: waiting for {late}: {shorten(str(late))}: no such file"
        status = ready.fields["STATUS"].rstrip()
        assert status.startswith(f"degraded: waiting for {late}"), ready.fields
        assert status.startswith(expected) or expected.startswith(status), ready.fields
        waiting = stats_where(subscriber, base, lambda p: p["state"] == "degraded", 20, "degraded stats")
        assert waiting.json()["reasons"][0].startswith(f"waiting for {late}"), waiting.json()
        time.sleep(1.5)
        assert len(manager.with_key("WATCHDOG", "1", since=ready.at)) >= 2, "waiting for a source is alive"
        assert process.poll() is None
        shutil.copy(face_clip, late)
        stats_where(subscriber, base, lambda p: p["state"] == "ok" and p["frames"] > 0, 30, "ok once the file is there")
        manager.wait_for(lambda n: " fps, " in n.fields.get("STATUS", ""), 10, "a running STATUS")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        manager.close()
    assert process.returncode == 0, stderr
    assert "waiting for it" in stderr and "opened after" in stderr


def test_a_source_that_waiting_cannot_fix_still_stops_the_start_with_status_2(
    shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    from edge.sources import has_gstreamer

    if has_gstreamer():
        pytest.skip("this OpenCV has GStreamer: csi://0 would be a camera to wait for")
    config = device_toml(tmp_path, "csi://0", yunet_model, shipped_model, "[mqtt]\nenabled = false\n")
    done = subprocess.run(
        emotion_edge("run", "--config", str(config)), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "csi://0: this OpenCV" in done.stderr and "without GStreamer" in done.stderr


# --- a model that lies about itself ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "bench", "demo", "doctor"])
def test_a_model_whose_metadata_and_graph_disagree_stops_every_command_with_one_line_naming_the_file(
    command: str, numbered_clip: Callable[[int], Path], shipped_model: Path, yunet_model: Path, tmp_path: Path
) -> None:
    # #22: 3 class names for 7 outputs published wrong labels and failed some frames with "list index
    # out of range"; now it is found at load, in every command that loads a model.
    forged = forge(shipped_model, tmp_path / "three.onnx", lambda m: m.update(classes=["angry", "happy", "sad"]))
    clip = numbered_clip(10)
    config = device_toml(tmp_path, clip, yunet_model, forged, "[mqtt]\nenabled = false\n")
    args = {
        "run": ["run", "--config", str(config)],
        "bench": ["bench", "--config", str(config), "--source", str(clip), "--frames", "5", "--warmup", "0"],
        "doctor": ["doctor", "--config", str(config), "--no-camera"],
        "demo": ["demo", "--model", str(forged), "--source", str(clip), "--out", str(tmp_path / "demo"), "--no-gif"],
    }[command]
    done = subprocess.run(emotion_edge(*args), capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "Traceback" not in done.stderr
    mismatch = "the graph does not match its metadata: its output has shape ['batch', 7], the metadata names 3 classes"
    if command == "doctor":  # doctor reports every check; a failed one is FAIL and exit 1
        assert done.returncode == 1, done.stdout + done.stderr
        (line,) = [li for li in done.stdout.splitlines() if str(forged) in li]
        assert "FAIL" in line and mismatch in line
    else:
        assert done.returncode == 2, done.stderr
        errors = [li for li in done.stderr.splitlines() if li.startswith("emotion-edge:")]
        assert len(errors) == 1 and str(forged) in errors[0] and mismatch in errors[0], done.stderr
