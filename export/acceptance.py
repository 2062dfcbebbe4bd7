"""``make jetson-acceptance``: the last step of the README's Jetson guide, one JSON report.

On a Jetson it runs, in order: ``doctor``; the FP16 (from the FP32 model) and INT8 (from the Q/DQ
model) engine builds; their agreement with ONNX Runtime on faces made from the demo's photos
(top-1 agreement and the largest probability difference); the face detector on TensorRT (YuNet's
FP16 engine, ``detector.kind = "yunet-tensorrt"``) against OpenCV's FaceDetectorYN on the demo's
photos (same faces, boxes and landmarks within 2 px, and each one's time per 640 x 480 frame);
``bench`` with the TensorRT backend at 1 and 4 faces; and the service started under systemd, its
``STATUS=`` line read, and stopped.
Everything lands in one JSON report (``runs/jetson-acceptance.json``) to attach to a bug report.

Anywhere else (or with ``--dry-run``) it is a dry run: each step checks its prerequisites on this
machine (the models, the faces, ONNX Runtime, the bench command, systemd) and says what it needs
the Jetson for; doctor runs for real.

Run: ``python -m export.acceptance [--dry-run] [--config FILE] [--json OUT]`` (root for the service step).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge import __version__, paths

PASSED, FAILED, SKIPPED, CHECKED, NEEDS = "passed", "failed", "skipped", "checked", "needs-jetson"
INSTALLED_CONFIG = Path("/etc/emotion-edge/config.toml")
SERVICE = "emotion-edge"


@dataclass
class Step:
    name: str
    status: str
    detail: str
    result: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        return f"{self.status:<13}{self.name:<16}{self.detail}"


@dataclass
class Context:
    dry_run: bool
    out_dir: Path
    config: Path | None
    fp32: Path
    int8: Path
    faces: int
    engines: dict[str, Path] = field(default_factory=dict)


def _timed(name: str, run: Callable[[], Step]) -> Step:
    start = time.monotonic()
    try:
        step = run()
    except Exception as exc:  # a step that breaks is a failed step, recorded, never a traceback
        step = Step(name, FAILED, f"{type(exc).__name__}: {exc}")
    step.seconds = round(time.monotonic() - start, 1)
    return step


def _tensorrt_reason() -> str | None:
    from edge.tensorrt.support import tensorrt_unavailable_reason

    return tensorrt_unavailable_reason()


def _service_active() -> bool:
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return False
    out = subprocess.run([systemctl, "is-active", SERVICE], capture_output=True, text=True, timeout=10)
    return out.stdout.strip() == "active"


# --- the steps -----------------------------------------------------------------------------------


def step_doctor(ctx: Context) -> Step:
    from edge.service.doctor import FAIL, doctor_config, failed, run_checks

    config = doctor_config(ctx.config)
    camera = not _service_active()  # the running service holds the camera
    checks = run_checks(config, camera=camera)
    bad = failed(checks)
    result = {"checks": [asdict(c) for c in checks], "camera_checked": camera}
    other = [c.name for c in checks if c.status == FAIL and not c.needed]
    if bad and ctx.dry_run:  # this machine is not the device the configuration describes
        names = ", ".join(c.name for c in bad)
        return Step("doctor", CHECKED, f"ran; needed checks that fail on this machine: {names}", result)
    if bad:
        return Step("doctor", FAILED, "needed checks failed: " + ", ".join(c.name for c in bad), result)
    return Step(
        "doctor", PASSED, "all needed checks pass" + (f" (also failing: {', '.join(other)})" if other else ""), result
    )


def step_engine(ctx: Context, precision: str) -> Step:
    name = f"engine-{precision}"
    model = ctx.fp32 if precision == "fp16" else ctx.int8
    if not model.is_file():
        return Step(name, FAILED, f"{model} is missing (it ships in models/)")
    reason = _tensorrt_reason()
    if ctx.dry_run or reason:
        return Step(name, NEEDS, f"build {precision} from {model}: needs TensorRT and CUDA ({reason or 'dry run'})")
    from edge.model_meta import read_onnx_metadata
    from edge.tensorrt.build import EngineBuildError
    from edge.tensorrt.engine_cache import Sidecar, sidecar_path
    from edge.tensorrt.engine_manager import default_engine_path, ensure_engine

    engine = default_engine_path(model, precision, ctx.out_dir / "engines")
    engine.parent.mkdir(parents=True, exist_ok=True)
    try:
        ensure_engine(model, read_onnx_metadata(str(model)), engine, precision, 8, rebuild=True)
    except EngineBuildError as exc:
        if "builds only strongly typed" in str(exc):  # TensorRT 11: documented, not a defect
            return Step(name, SKIPPED, str(exc))
        raise
    sidecar = Sidecar.load(sidecar_path(engine))
    ctx.engines[precision] = engine
    return Step(
        name,
        PASSED,
        f"{engine} (TensorRT {sidecar.tensorrt_version}, {sidecar.gpu_name}, built in {sidecar.build_seconds} s)",
        asdict(sidecar),
    )


def step_agreement(ctx: Context) -> Step:
    from export.gpu_check import compare, made_faces

    faces = made_faces(ctx.faces if not ctx.dry_run else 8, ctx.fp32)
    if ctx.dry_run or _tensorrt_reason():
        return Step(
            "agreement",
            NEEDS,
            f"{len(faces)} faces made from the demo photos and ONNX Runtime are ready here; "
            "the TensorRT side needs the Jetson",
        )
    rows = []
    for precision, model in (("fp16", ctx.fp32), ("int8", ctx.int8)):
        if precision in ctx.engines:
            rows.append(compare(model, precision, faces, 8, 200, engine=ctx.engines[precision]))
    if not rows:
        return Step("agreement", SKIPPED, "no engine was built (see the engine steps)")
    text = "; ".join(
        f"{r['precision']}: top-1 agreement {r['top1_agreement_with_onnxruntime']:.3f}, "
        f"max |dp| {r['max_probability_difference']:.4f}"
        for r in rows
    )
    ok = all(float(str(r["top1_agreement_with_onnxruntime"])) >= 0.9 for r in rows)
    return Step("agreement", PASSED if ok else FAILED, f"{len(faces)} faces; {text}", {"engines": rows})


DETECTOR_PX = 2.0  # the "a pixel or two": FP16 moves YuNet's outputs a little


def _yunet() -> Path | None:
    return next((p for p in (Path(paths.DETECTOR), Path(paths.DEV_YUNET)) if p.is_file()), None)


def detector_frames() -> list[Any]:
    """The demo's photos, mirrored, and each in the middle of a grey 640 x 480 frame (the camera's
    size, downscaled to the detector's 320 x 240 and padded to 320 x 256)."""
    import numpy as np

    from edge.tools.demo_clip import load_photos

    photos = [p for photo in load_photos().values() for p in (photo, np.ascontiguousarray(photo[:, ::-1]))]
    frames = []
    for photo in photos:
        frame = np.full((480, 640, 3), 128, np.uint8)
        h, w = photo.shape[:2]
        y, x = (480 - h) // 2, (640 - w) // 2
        frame[y : y + h, x : x + w] = photo
        frames.append(frame)
    return photos + frames


def compare_detectors(reference: Any, candidate: Any, frames: list[Any], repeats: int = 30) -> dict[str, Any]:
    """Faces of ``candidate`` against ``reference`` (FaceDetectorYN) frame by frame: counts, the largest
    box, landmark and score differences, and each one's mean time on the 640 x 480 frames."""
    import numpy as np

    counts_differ, box, landmark, score, faces = 0, 0.0, 0.0, 0.0, 0
    for frame in frames:
        expected, found = reference.detect(frame), candidate.detect(frame)
        faces += len(expected)
        if len(expected) != len(found):
            counts_differ += 1
            continue
        for a, b in zip(expected, found):
            box = max(box, float(np.abs(np.subtract(a.box, b.box)).max()))
            landmark = max(landmark, float(np.abs(a.landmarks - b.landmarks).max()))
            score = max(score, abs(a.score - b.score))
    camera = [f for f in frames if f.shape[:2] == (480, 640)] or frames
    times = {}
    for name, detector in (("reference_ms", reference), ("candidate_ms", candidate)):
        detector.detect(camera[0])  # warm
        start = time.perf_counter()
        for i in range(repeats):
            detector.detect(camera[i % len(camera)])
        times[name] = round((time.perf_counter() - start) * 1000 / repeats, 2)
    return {
        "frames": len(frames),
        "faces": faces,
        "frames_with_another_count": counts_differ,
        "max_box_px": round(box, 3),
        "max_landmark_px": round(landmark, 3),
        "max_score_difference": round(score, 4),
        **times,
    }


def _agrees(result: dict[str, Any]) -> bool:
    return bool(
        result["faces"] > 0
        and result["frames_with_another_count"] == 0
        and result["max_box_px"] <= DETECTOR_PX
        and result["max_landmark_px"] <= DETECTOR_PX
    )


def step_detector(ctx: Context) -> Step:
    from edge.detect import YuNetDetector, create_detector
    from edge.yunet_net import DetectorEngine

    yunet = _yunet()
    if yunet is None:
        return Step("detector", FAILED, f"no YuNet at {paths.DETECTOR}: emotion-edge models fetch")
    frames = detector_frames()
    reference = YuNetDetector(yunet)
    reason = _tensorrt_reason()
    if ctx.dry_run or reason:
        # Here the numpy decoding is checked on ONNX Runtime; the Jetson runs the same check on TensorRT.
        result = compare_detectors(reference, create_detector("yunet-onnxruntime", yunet), frames)
        state = NEEDS if _agrees(result) else FAILED
        return Step(
            "detector",
            state,
            f"yunet-onnxruntime {'agrees' if state == NEEDS else 'DISAGREES'} with FaceDetectorYN here "
            f"({result['faces']} faces, boxes within {result['max_box_px']} px); yunet-tensorrt needs the Jetson "
            f"({reason or 'dry run'})",
            result,
        )
    candidate = create_detector("yunet-tensorrt", yunet, engine=DetectorEngine(ctx.out_dir / "engines"))
    try:
        result = compare_detectors(reference, candidate, frames)
    finally:
        close = getattr(candidate, "close", None)
        if close is not None:
            close()
    result["engine"] = str(getattr(getattr(candidate, "runner", None), "reason", ""))
    ok = _agrees(result)
    detail = (
        f"{result['faces']} faces in {result['frames']} frames, {result['frames_with_another_count']} with another "
        f"count; boxes within {result['max_box_px']} px, landmarks {result['max_landmark_px']} px (limit "
        f"{DETECTOR_PX}); per 640x480 frame FaceDetectorYN {result['reference_ms']} ms, "
        f"TensorRT {result['candidate_ms']} ms"
    )
    return Step("detector", PASSED if ok else FAILED, detail, result)


def write_demo_photos(folder: Path) -> Path:
    """The demo's two photos, mirrored and relit, as a photo folder bench can make clips from
    (``--wild FOLDER`` reads ``FOLDER/images/*.jpg``)."""
    import cv2
    import numpy as np

    from edge.tools.demo_clip import load_photos

    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, photo in load_photos().items():
        for variant, image in (("", photo), ("-mirrored", photo[:, ::-1])):
            for light, gain in (("", 1.0), ("-dim", 0.75)):
                out = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
                cv2.imwrite(str(folder / "images" / f"{name}{variant}{light}.jpg"), np.ascontiguousarray(out))
    return folder


def step_bench(ctx: Context) -> Step:
    exe = Path(sys.executable).with_name("emotion-edge")
    command = [str(exe)] if exe.is_file() else [sys.executable, "-m", "emotion_edge.cli"]
    photos = write_demo_photos(ctx.out_dir / "photos")
    yunet = _yunet()
    if yunet is None:
        return Step("bench", FAILED, f"no YuNet at {paths.DETECTOR}: emotion-edge models fetch")
    if ctx.dry_run or _tensorrt_reason():
        help_ok = subprocess.run([*command, "bench", "--help"], capture_output=True, timeout=60).returncode == 0
        state = "the bench command and its photos are ready here" if help_ok else "the bench command does not run"
        return Step("bench", NEEDS if help_ok else FAILED, f"{state}; 1 and 4 faces on TensorRT need the Jetson")
    config = ctx.out_dir / "bench.toml"
    config.write_text(
        f'[detector]\nmodel = "{yunet.resolve()}"\n\n[model]\npath = "{ctx.int8.resolve()}"\nbackend = "tensorrt"\n'
        f'precision = "int8"\nengine_dir = "{(ctx.out_dir / "engines").resolve()}"\n\n[mqtt]\nenabled = false\n'
    )
    results: dict[str, Any] = {}
    for faces in (1, 4):
        out = ctx.out_dir / f"bench-{faces}face.json"
        done = subprocess.run(
            [*command, "bench", "--config", str(config), "--faces", str(faces), "--frames", "300",
             "--wild", str(photos), "--cache-dir", str(ctx.out_dir / "clips"), "--json", str(out)],
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if done.returncode != 0:
            return Step("bench", FAILED, f"bench --faces {faces} failed: {done.stderr.strip()[-400:]}", results)
        results[f"{faces}face"] = json.loads(out.read_text())
    on_trt = all(r.get("backend") == "tensorrt" for r in results.values())
    return Step("bench", PASSED if on_trt else FAILED, _bench_summary(results), results)


def _bench_summary(results: dict[str, Any]) -> str:
    """``1face: 61.2 fps, end to end p50/p99 12.1/15.0 ms (tensorrt); ...`` from bench's JSON reports."""
    parts = []
    for key, data in results.items():
        e2e = (data.get("latency_ms") or {}).get("end_to_end") or {}
        latency = f"end to end p50/p99 {e2e.get('p50')}/{e2e.get('p99')} ms"
        parts.append(f"{key}: {data.get('fps')} fps, {latency} ({data.get('backend')})")
    return "; ".join(parts)


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    # A first start builds the engine (minutes); the service extends its own start limit up to 45 min.
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=2800)


def _show(prop: str) -> str:
    return _systemctl("show", SERVICE, "-p", prop, "--value").stdout.strip()


def step_service(ctx: Context, start_timeout_s: float = 900.0) -> Step:
    if shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
        return Step("service", NEEDS if ctx.dry_run else FAILED, "systemd is not running here")
    if _show("LoadState") != "loaded":
        return Step(
            "service",
            NEEDS if ctx.dry_run else FAILED,
            f"{SERVICE}.service is not installed: sudo make install-service",
        )
    if ctx.dry_run:
        return Step("service", NEEDS, f"{SERVICE}.service is installed; starting it is part of the Jetson run")
    if os.geteuid() != 0:
        return Step("service", SKIPPED, "starting the service needs root: sudo make jetson-acceptance")
    was_active = _show("ActiveState") == "active"
    started = time.monotonic()
    start = _systemctl("restart", SERVICE)  # returns once READY=1 came (Type=notify) or the start failed
    state = _show("ActiveState")
    if start.returncode != 0 or state != "active":
        journal = subprocess.run(
            ["journalctl", "-u", SERVICE, "-n", "30", "--no-pager"], capture_output=True, text=True, timeout=30
        ).stdout
        return Step("service", FAILED, f"start failed ({state}): {start.stderr.strip()}", {"journal": journal})
    ready_s = round(time.monotonic() - started, 1)
    time.sleep(10)  # a few STATUS= updates
    status = _show("StatusText")
    stop = _systemctl("stop", SERVICE)
    result = {"ready_after_s": ready_s, "status": status, "result": _show("Result"), "stopped": stop.returncode == 0}
    if was_active:
        _systemctl("start", SERVICE)
    ok = stop.returncode == 0 and "tensorrt" in status
    detail = (
        f"ready after {ready_s} s, STATUS {status!r}, stopped {'cleanly' if stop.returncode == 0 else 'with an error'}"
    )
    if "tensorrt" not in status:
        detail += " (not on TensorRT: see its reason in the STATUS line and `emotion-edge doctor`)"
    return Step("service", PASSED if ok else FAILED, detail, result)


def versions() -> dict[str, str]:
    found = {"emotion-edge": __version__, "python": platform.python_version(), "machine": platform.machine()}
    for module in ("tensorrt", "onnxruntime", "cv2", "numpy"):
        try:
            found[module] = str(__import__(module).__version__)
        except Exception as exc:
            found[module] = f"absent ({type(exc).__name__})"
    return found


def run(ctx: Context) -> dict[str, Any]:
    from edge.service.doctor import detect_board

    board = detect_board()
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    for name, body in (
        ("doctor", lambda: step_doctor(ctx)),
        ("engine-fp16", lambda: step_engine(ctx, "fp16")),
        ("engine-int8", lambda: step_engine(ctx, "int8")),
        ("agreement", lambda: step_agreement(ctx)),
        ("detector", lambda: step_detector(ctx)),
        ("bench", lambda: step_bench(ctx)),
        ("service", lambda: step_service(ctx)),
    ):
        step = _timed(name, body)
        print(step.line(), flush=True)
        steps.append(step)
    return {
        "kind": "emotion-edge Jetson acceptance",
        "dry_run": ctx.dry_run,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "board": asdict(board),
        "versions": versions(),
        "config": str(ctx.config) if ctx.config else None,
        "steps": [asdict(s) for s in steps],
        "passed": all(s.status in (PASSED, SKIPPED) for s in steps) and not ctx.dry_run,
        "failed": [s.name for s in steps if s.status == FAILED],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.acceptance", description=__doc__)
    p.add_argument("--dry-run", action="store_true", help="check prerequisites only (automatic off a Jetson)")
    p.add_argument("--config", type=Path, help=f"the device configuration (default: {INSTALLED_CONFIG} if present)")
    p.add_argument("--fp32", type=Path, default=Path(paths.MODEL))
    p.add_argument("--int8", type=Path, default=Path(paths.MODEL_INT8))
    p.add_argument("--faces", type=int, default=256, help="faces for the agreement check")
    p.add_argument("--out-dir", type=Path, help="engines, clips, bench figures (default: a folder beside --json)")
    p.add_argument("--json", type=Path, default=Path("runs/jetson-acceptance.json"))
    args = p.parse_args(argv)
    from edge.service.doctor import detect_board

    jetson = detect_board().kind == "jetson"
    dry_run = args.dry_run or not jetson
    if dry_run and not args.dry_run:
        print("not a Jetson (/etc/nv_tegra_release is absent): dry run, checking each step's prerequisites")
    config = args.config or (INSTALLED_CONFIG if os.access(INSTALLED_CONFIG, os.R_OK) else None)
    out_dir = args.out_dir or args.json.with_suffix("")
    if dry_run and args.out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="emotion-edge-acceptance-"))
    ctx = Context(dry_run, out_dir, config, args.fp32, args.int8, args.faces)
    report = run(ctx)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"report: {args.json}" + (" (dry run: the steps marked needs-jetson run on the Jetson)" if dry_run else ""))
    if dry_run:
        return 1 if report["failed"] else 0
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
