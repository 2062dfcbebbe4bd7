"""``emotion-edge bench --cameras N``: N cameras in one process against N separate processes.

Each camera is a different clip of real faces (``bench_clip`` variants) delivered at ``pace_fps``
like a camera's, newest frame only. In one process every camera has its capture thread, detector,
tracker and loop (a thread each) and all share one classifier (``edge.cameras``), the faces of the
cameras that are ready batched into one call. The separate processes are N ``emotion-edge bench``
runs at once, one clip each: what N services would be. Both report per-camera fps and end-to-end
latency, CPU per frame, and peak RSS (summed over the processes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge.cameras.shared_classifier import share
from edge.config import DeviceConfig
from edge.loop import FrameLoop, LoopSummary
from edge.pipeline import build_pipeline
from edge.service.runner import make_grabber
from edge.stats import LoopStats, peak_rss_mb
from edge.tools.bench import with_source


def camera_figures(name: str, clip: str, stats: dict[str, Any]) -> dict[str, Any]:
    lat = stats.get("latency_ms", {}).get("end_to_end", {})
    measured_s = max(1e-9, float(stats.get("uptime_s", 0.0)))
    return {
        "camera": name,
        "clip": clip,
        "frames": stats["frames"],
        "fps": round(stats["frames"] / measured_s, 2),
        "end_to_end_p50_ms": lat.get("p50"),
        "end_to_end_p99_ms": lat.get("p99"),
        "dropped_frames": stats.get("dropped_frames", 0),
        "faces_per_frame": stats.get("faces_per_frame", 0.0),
        "frame_errors": stats.get("frame_errors", 0),
    }


def run_one_process(
    config: DeviceConfig, clips: list[str], frames: int, pace_fps: float, warmup: int = 20
) -> dict[str, Any]:
    """Every clip a camera of one process, one classifier shared."""
    first = build_pipeline(with_source(config, clips[0]))
    shared = share(first.classifier, config.detector.max_faces)
    first.classifier = shared
    pipelines = [first] + [build_pipeline(with_source(config, clip), classifier=shared) for clip in clips[1:]]
    loops: list[FrameLoop] = []
    grabbers = []
    for clip, pipeline in zip(clips, pipelines):
        _, grabber = make_grabber(
            with_source(config, clip), loop=True, realtime=False, pace_fps=pace_fps, max_retries=3
        )
        grabbers.append(grabber)
        loops.append(FrameLoop(grabber, pipeline, stats=LoopStats(window=frames), stats_interval_s=3600.0))
    summaries: list[LoopSummary | BaseException | None] = [None] * len(loops)

    def run(i: int) -> None:
        try:
            summaries[i] = loops[i].run(max_frames=frames + warmup, warmup=warmup)
        except BaseException as exc:  # reported with the camera's figures, never lost in a thread
            summaries[i] = exc

    for grabber in grabbers:
        grabber.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=run, args=(i,), name=f"camera-{i}") for i in range(len(loops))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for grabber in grabbers:
            grabber.stop()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    cameras = []
    for i, (clip, summary) in enumerate(zip(clips, summaries)):
        if not isinstance(summary, LoopSummary):
            raise RuntimeError(f"camera {i} ({clip}) failed: {summary!r}")
        cameras.append(camera_figures(f"camera{i}", clip, summary.stats))
    processed = sum(s.frames for s in summaries if isinstance(s, LoopSummary))
    shared.close()
    return {
        "mode": "one process",
        "cameras": cameras,
        "wall_s": round(wall, 2),
        "cpu_ms_per_frame": round(cpu * 1e3 / max(1, processed), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "classifier_batches": shared.figures.to_dict(),
    }


def run_separate_processes(
    clips: list[str], frames: int, pace_fps: float, warmup: int, extra_args: list[str]
) -> dict[str, Any]:
    """One ``emotion-edge bench`` per clip, all at once: N services' worth."""
    with tempfile.TemporaryDirectory(prefix="bench-cameras-") as tmp:
        outs = [Path(tmp) / f"camera{i}.json" for i in range(len(clips))]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "emotion_edge.cli",
                    "bench",
                    "--source",
                    clip,
                    "--frames",
                    str(frames),
                    "--warmup",
                    str(warmup),
                    "--pace",
                    str(pace_fps),
                    "--json",
                    str(out),
                    *extra_args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for clip, out in zip(clips, outs)
        ]
        errors = [p.communicate()[1] for p in procs]
        reports = []
        for i, (proc, out, err) in enumerate(zip(procs, outs, errors)):
            if proc.returncode != 0 or not out.is_file():
                last = (err or "").strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"the separate bench of camera {i} failed (exit {proc.returncode}): {last[0]}")
            reports.append(json.loads(out.read_text()))
    cameras = [camera_figures(f"camera{i}", clip, r) for i, (clip, r) in enumerate(zip(clips, reports))]
    frames_total = sum(r["frames"] + warmup for r in reports)
    return {
        "mode": f"{len(clips)} separate processes",
        "cameras": cameras,
        "wall_s": max(r["wall_s"] for r in reports),
        "cpu_ms_per_frame": round(sum(r["cpu_s"] for r in reports) * 1e3 / max(1, frames_total), 2),
        "peak_rss_mb": round(sum(r["peak_rss_mb"] for r in reports), 1),
        "peak_rss_mb_each": [r["peak_rss_mb"] for r in reports],
    }


def compare(one: dict[str, Any], separate: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"one_process": one, "separate_processes": separate}
    if separate is not None and separate["peak_rss_mb"]:
        out["memory_saved_pct"] = round(100 * (1 - one["peak_rss_mb"] / separate["peak_rss_mb"]), 1)
    return out


def format_cameras_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['cameras']} camera(s), each a different clip paced at {report['pace_fps']:g} fps, "
        f"{report['frames']} frames measured per camera after {report['warmup']} warm-up",
        "",
        f"{'mode':<24}{'camera':<9}{'fps':>7}{'e2e p50 ms':>12}{'e2e p99 ms':>12}{'dropped':>9}{'faces/fr':>10}",
    ]
    runs = [report["one_process"]] + ([report["separate_processes"]] if report["separate_processes"] else [])
    for run in runs:
        for cam in run["cameras"]:
            p50 = "-" if cam["end_to_end_p50_ms"] is None else f"{cam['end_to_end_p50_ms']:.1f}"
            p99 = "-" if cam["end_to_end_p99_ms"] is None else f"{cam['end_to_end_p99_ms']:.1f}"
            lines.append(
                f"{run['mode']:<24}{cam['camera']:<9}{cam['fps']:>7.1f}{p50:>12}{p99:>12}"
                f"{cam['dropped_frames']:>9}{cam['faces_per_frame']:>10.2f}"
            )
    lines.append("")
    for run in runs:
        lines.append(
            f"{run['mode']:<24}CPU {run['cpu_ms_per_frame']:.2f} ms per frame (all threads), "
            f"peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    batches = report["one_process"]["classifier_batches"]
    lines.append(
        f"shared classifier       {batches['calls']} calls, {batches['crops_per_call_mean']} faces and "
        f"{batches['requests_per_call_mean']} cameras per call (cameras per call: {batches['requests_per_call']})"
    )
    if "memory_saved_pct" in report:
        lines.append(
            f"memory                  one process uses {report['memory_saved_pct']:.1f} % less than separate ones"
        )
    return "\n".join(lines)
