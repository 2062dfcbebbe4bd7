"""The Jetson acceptance run as a dry run here, and the parts of it that run anywhere: the faces
made from the demo's photos (gpu-check's default input) and bench's clips from those photos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from edge.classify import OnnxRuntimeClassifier
from edge.service.doctor import detect_board

ROOT = Path(__file__).resolve().parents[2]
FP32 = ROOT / "models" / "emotion-edge-fp32.onnx"
INT8 = ROOT / "models" / "emotion-edge-int8.onnx"


def test_the_dry_run_checks_every_step_and_says_what_needs_the_jetson(tmp_path: Path, yunet_model: Path) -> None:
    # yunet_model: the dry run finds faces with YuNet from ../shared (skipped with the reason without it)
    report_path = tmp_path / "report.json"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "export.acceptance",
            "--dry-run",
            "--json",
            str(report_path),
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(report_path.read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == ["doctor", "engine-fp16", "engine-int8", "agreement", "detector", "bench", "service"]
    assert report["dry_run"] is True and report["passed"] is False and report["failed"] == []
    assert steps["doctor"]["status"] in ("passed", "checked") and steps["doctor"]["result"]["checks"]
    for name in ("engine-fp16", "engine-int8", "agreement", "detector", "bench", "service"):
        assert steps[name]["status"] == "needs-jetson", steps[name]
    assert "faces made from the demo photos" in steps["agreement"]["detail"]
    # The detector's numpy decoding is checked here on ONNX Runtime; the Jetson checks it on TensorRT.
    assert steps["detector"]["detail"].startswith("yunet-onnxruntime agrees with FaceDetectorYN here")
    assert steps["detector"]["result"]["faces"] >= 8 and steps["detector"]["result"]["max_box_px"] <= 2
    assert {"emotion-edge", "python", "tensorrt", "onnxruntime"} <= set(report["versions"])
    assert report["board"]["kind"] == detect_board().kind
    assert "needs-jetson engine-int8" in out.stdout.replace("  ", " ") or "engine-int8" in out.stdout


def test_faces_made_from_the_demo_photos_are_real_faces_to_the_model(yunet_model: Path) -> None:
    from export.gpu_check import made_faces

    faces = made_faces(48, FP32)
    assert faces.shape == (48, 48, 48) and faces.dtype == np.uint8
    assert len({face.tobytes() for face in faces}) == 48  # each one varied
    fp32 = OnnxRuntimeClassifier(FP32).predict(faces)
    int8 = OnnxRuntimeClassifier(INT8).predict(faces)
    # The INT8 model agrees with FP32 on them as it does on FER2013: they are faces, not noise.
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 0.85
    assert fp32.max(1).mean() > 0.4


def test_bench_can_make_its_four_face_clip_from_the_demo_photos(tmp_path: Path, yunet_model: Path) -> None:
    from edge.tools.bench_clip import make_bench_clip
    from export.acceptance import write_demo_photos

    photos = write_demo_photos(tmp_path / "photos")
    assert len(list(photos.glob("images/*.jpg"))) == 8
    clip = make_bench_clip(photos, 4, tmp_path / "four.avi", frames=20, detector_model=yunet_model)
    assert clip.is_file() and clip.stat().st_size > 10_000


def test_the_bench_summary_reads_benchs_own_report() -> None:
    from export.acceptance import _bench_summary

    report = {"fps": 61.2, "backend": "tensorrt", "latency_ms": {"end_to_end": {"p50": 12.1, "p99": 15.0}}}
    assert _bench_summary({"1face": report}) == "1face: 61.2 fps, end to end p50/p99 12.1/15.0 ms (tensorrt)"


class Shifted:
    """A real detector whose boxes and landmarks come out ``px`` pixels to the right."""

    def __init__(self, detector: object, px: float) -> None:
        self.detector, self.px = detector, px

    def detect(self, frame: np.ndarray) -> list:  # type: ignore[type-arg]
        from dataclasses import replace

        faces = self.detector.detect(frame)  # type: ignore[attr-defined]
        return [
            replace(f, box=(f.box[0] + self.px, *f.box[1:]), landmarks=f.landmarks + np.float32([self.px, 0]))
            for f in faces
        ]


def test_the_detector_check_passes_within_two_pixels_and_fails_beyond(yunet_model: Path) -> None:
    from edge.detect import YuNetDetector
    from export.acceptance import _agrees, compare_detectors, detector_frames

    reference = YuNetDetector(yunet_model)
    frames = detector_frames()
    assert len(frames) == 8 and {f.shape[:2] for f in frames[4:]} == {(480, 640)}
    close = compare_detectors(reference, Shifted(YuNetDetector(yunet_model), 1.5), frames, repeats=2)
    assert _agrees(close) and close["faces"] >= 8 and close["max_box_px"] == 1.5
    far = compare_detectors(reference, Shifted(YuNetDetector(yunet_model), 2.5), frames, repeats=2)
    assert not _agrees(far) and far["max_landmark_px"] == 2.5
    assert far["reference_ms"] > 0 and far["candidate_ms"] > 0
