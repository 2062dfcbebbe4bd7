"""The benchmark: the real loop over a clip for a fixed number of frames, reported as a table and JSON.

Two modes. Unpaced (the default): the file is read as fast as the loop takes frames and every
frame is processed, so ``fps`` is the end-to-end throughput. Paced (``pace_fps``): frames arrive
at that rate like a camera's and only the newest is processed, so ``end_to_end`` is the latency a
camera at that rate would see (and drops show whether the loop keeps up).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from typing import Any

from edge.config import DeviceConfig
from edge.loop import FrameLoop
from edge.pipeline import build_pipeline
from edge.service.runner import make_grabber
from edge.stats import LoopStats, format_table

log = logging.getLogger(__name__)


UNPACED_NOTE = "end_to_end includes the wait behind the frame in progress; --pace FPS gives camera latency"


def run_bench(config: DeviceConfig, frames: int, pace_fps: float | None = None, warmup: int = 20) -> dict[str, Any]:
    if frames < 1:
        raise ValueError(f"--frames must be at least 1, got {frames}")
    pipeline = build_pipeline(config)
    # The loop's own grabber, with the bench's settings: the clip loops so any frame count can be
    # measured from a short file; unpaced, every frame is taken as fast as the loop goes; a camera
    # that fails is given up after a few tries instead of being waited for.
    _, grabber = make_grabber(config, loop=True, realtime=False, pace_fps=pace_fps, max_retries=3)
    loop = FrameLoop(grabber, pipeline, sinks=[], stats=LoopStats(window=frames), stats_interval_s=3600.0)
    grabber.start()
    started = time.perf_counter()
    try:
        summary = loop.run(max_frames=frames + warmup, warmup=warmup)
    finally:
        grabber.stop()
    wall = time.perf_counter() - started
    import cv2
    import numpy as np
    import onnxruntime

    classifier = pipeline.classifier
    return {
        **summary.stats,
        "measured_frames": summary.stats["frames"],
        "warmup_frames": warmup,
        "stopped_because": summary.reason,
        "mode": f"paced at {pace_fps:g} fps, newest frame only" if pace_fps else "every frame, as fast as possible",
        "pace_fps": pace_fps,
        "wall_s": round(wall, 2),
        "providers": getattr(classifier, "providers", []),
        "model_threads": config.model.threads,
        "detector_max_side": config.detector.max_side,
        "crop": pipeline.policy.to_dict(),
        "torch_imported": "torch" in sys.modules,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
        },
    }


def with_source(config: DeviceConfig, uri: str) -> DeviceConfig:
    return config.model_copy(update={"source": config.source.model_copy(update={"uri": uri})})


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"source      {report['source']}",
        f"mode        {report['mode']}",
        f"model       {report['model']} on {report['backend']} ({', '.join(report['providers'])}, "
        f"{report['model_threads'] or 'all'} thread(s))",
        f"detector    {report['detector']} at {report['detector_max_side']} px; crop {report['crop']}",
        f"frames      {report['measured_frames']} measured after {report['warmup_frames']} warm-up "
        f"({report['stopped_because']}); {report['faces_per_frame']:.2f} faces/frame",
        "",
        format_table(report),
        "",
        f"fps         {report['fps']:.1f}",
        f"dropped     {report['dropped_frames']} frames (bad frames {report['bad_frames']}, "
        f"reconnects {report['reconnects']})",
        f"peak RSS    {report['peak_rss_mb']:.0f} MB; torch imported: {'yes' if report['torch_imported'] else 'no'}",
        f"machine     {report['machine']['cpus']} CPUs, {report['machine']['platform']}, "
        f"onnxruntime {report['machine']['onnxruntime']}, opencv {report['machine']['opencv']}",
    ]
    if not report["pace_fps"]:
        lines.insert(4, f"note        {UNPACED_NOTE}")
    return "\n".join(lines)
