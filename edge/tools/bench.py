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
from edge.web.config import Credentials

log = logging.getLogger(__name__)


UNPACED_NOTE = "end_to_end includes the wait behind the frame in progress; --pace FPS gives camera latency"


def run_bench(
    config: DeviceConfig,
    frames: int,
    pace_fps: float | None = None,
    warmup: int = 20,
    web_viewers: int | None = None,
) -> dict[str, Any]:
    """``web_viewers``: None runs without the live view; 0 or 1 runs it (on a free loopback port, with
    ``[web]``'s caps) with that many viewers reading its stream."""
    if frames < 1:
        raise ValueError(f"--frames must be at least 1, got {frames}")
    if web_viewers not in (None, 0, 1):
        raise ValueError(f"--web-viewers must be 0 or 1, got {web_viewers}")
    pipeline = build_pipeline(config)
    # The loop's own grabber, with the bench's settings: the clip loops so any frame count can be
    # measured from a short file; unpaced, every frame is taken as fast as the loop goes; a camera
    # that fails is given up after a few tries instead of being waited for.
    _, grabber = make_grabber(config, loop=True, realtime=False, pace_fps=pace_fps, max_retries=3)
    view, viewer = None, None
    if web_viewers is not None:
        from edge.web.client import StreamViewer
        from edge.web.view import WebView

        web = config.web.model_copy(update={"enabled": True, "host": "127.0.0.1", "port": 0})
        view = WebView(web, pipeline.classifier.info.classes, credentials=Credentials())
        view.start()
        if web_viewers == 1:
            viewer = StreamViewer(view.url).start()
    sinks = [view] if view is not None else []
    loop = FrameLoop(
        grabber, pipeline, sinks=sinks, stats=LoopStats(window=frames), stats_interval_s=3600.0, frame_sinks=sinks
    )
    if view is not None:
        view.stats_source = loop.snapshot
    grabber.start()
    started = time.perf_counter()
    cpu_started = time.process_time()  # every thread of the process: capture, loop, encoder, server
    try:
        summary = loop.run(max_frames=frames + warmup, warmup=warmup)
    finally:
        grabber.stop()
        web_report = viewer.stop() if viewer is not None else {}
        if view is not None:
            web_report = {**view.frames.counters(), **web_report, "viewers": web_viewers, "url": view.url}
            view.close()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
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
        # CPU time per processed frame (warm-up included), all threads: what the work costs, whatever
        # else the machine is doing (fps and latency move with other load; this does much less).
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_frame": round(cpu * 1e3 / max(1, summary.frames), 2),
        "providers": getattr(classifier, "providers", []),
        "model_threads": config.model.threads,
        "detector_max_side": config.detector.max_side,
        "crop": pipeline.policy.to_dict(),
        "torch_imported": "torch" in sys.modules,
        "web": web_report or None,
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
        f"fps         {report['fps']:.1f}; CPU {report['cpu_ms_per_frame']:.2f} ms per frame (all threads)",
        f"dropped     {report['dropped_frames']} frames (bad frames {report['bad_frames']}, "
        f"reconnects {report['reconnects']})",
        f"peak RSS    {report['peak_rss_mb']:.0f} MB; torch imported: {'yes' if report['torch_imported'] else 'no'}",
        f"machine     {report['machine']['cpus']} CPUs, {report['machine']['platform']}, "
        f"onnxruntime {report['machine']['onnxruntime']}, opencv {report['machine']['opencv']}",
    ]
    web = report.get("web")
    if web:
        line = f"web view    on, {web['viewers']} viewer(s)"
        if web["viewers"]:
            line += (
                f": {web['pictures']} pictures streamed ({web['stream_fps']} fps, {web['kb_per_s']} KB/s), "
                f"encoding {web['encode_ms_mean']} ms each, {web['jpeg_kb_mean']} KB each"
            )
        else:
            line += f": {web['encoded']} pictures encoded"
        lines.insert(5, line)
    if not report["pace_fps"]:
        lines.insert(4, f"note        {UNPACED_NOTE}")
    return "\n".join(lines)
