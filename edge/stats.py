"""Rolling figures of the frame loop: per-stage latency percentiles, fps, and counters.

Stages, in milliseconds per frame: ``capture_wait`` (the loop waiting for a frame), ``motion``
(the motion gate), ``detect`` (frames the detector ran on), ``align`` and ``infer`` (frames with
faces classified, one batch for all of them), ``track`` (tracking, carrying boxes, smoothing,
building the result), ``publish`` (handing the result to every sink), ``draw`` (only with
--show/--record), and ``end_to_end``: from the moment the frame was captured to the result being
handed over.

What ran: ``detections`` (frames the detector ran on), ``frames_gated`` (frames whose detection the
motion gate skipped: nothing moved, no face tracked), ``classifications`` (faces classified), and
``detections_per_s`` and ``classifications_per_s`` over the rolling window.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import deque
from typing import Any

import numpy as np

STAGES = ("capture_wait", "motion", "detect", "align", "infer", "track", "publish", "draw", "end_to_end")
PERCENTILES = (50, 95, 99)
STALE_S = 1.0  # no frame for longer than this (and three frame periods): fps is 0


class RollingWindow:
    """The last ``size`` samples in a preallocated ring, so recording costs no allocation."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be positive, got {size}")
        self._values = np.zeros(size, dtype=np.float64)
        self._next = 0
        self.count = 0

    def add(self, value: float) -> None:
        self._values[self._next] = value
        self._next = (self._next + 1) % len(self._values)
        self.count = min(self.count + 1, len(self._values))

    def summary(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        values = self._values[: self.count]
        p50, p95, p99 = np.percentile(values, PERCENTILES)
        return {
            "p50": round(float(p50), 3),
            "p95": round(float(p95), 3),
            "p99": round(float(p99), 3),
            "mean": round(float(values.mean()), 3),
            "max": round(float(values.max()), 3),
        }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


class LoopStats:
    def __init__(self, window: int = 300) -> None:
        self.window = window
        self.reset()

    def reset(self) -> None:
        """Start over (after a warm-up, say); counters from the grabber are not ours to reset."""
        self.stages = {name: RollingWindow(self.window) for name in STAGES}
        self._done_at: deque[float] = deque(maxlen=self.window)
        self._detected: deque[int] = deque(maxlen=self.window)
        self._classified: deque[int] = deque(maxlen=self.window)
        self.frames = 0
        self.detections = 0
        self.frames_gated = 0
        self.classifications = 0
        self.faces = 0
        self.frames_with_faces = 0
        self.sink_errors = 0
        self.frame_errors = 0  # frames the pipeline raised on, skipped
        self.started = time.perf_counter()

    def record(
        self, timings_ms: dict[str, float], faces: int, detected: bool = True, gated: bool = False, classified: int = 0
    ) -> None:
        for name, value in timings_ms.items():
            self.stages[name].add(value)
        self._done_at.append(time.perf_counter())
        self._detected.append(int(detected))
        self._classified.append(classified)
        self.detections += detected
        self.frames_gated += gated
        self.classifications += classified
        self.frames += 1
        self.faces += faces
        self.frames_with_faces += faces > 0

    def fps(self) -> float:
        """Frames per second over the rolling window; 0 once no frame has been processed for a
        while (longer than 1 s and three frame periods), so a stopped loop never shows its old rate."""
        if len(self._done_at) < 2:
            return 0.0
        span = self._done_at[-1] - self._done_at[0]
        if span <= 0:
            return 0.0
        rate = (len(self._done_at) - 1) / span
        if time.perf_counter() - self._done_at[-1] > max(STALE_S, 3.0 / rate):
            return 0.0
        return rate

    def per_second(self) -> tuple[float, float]:
        """Detections and classifications per second over the rolling window (0 once fps is)."""
        fps, n = self.fps(), len(self._detected)
        if not n or not fps:
            return 0.0, 0.0
        return fps * sum(self._detected) / n, fps * sum(self._classified) / n

    def last_frame_age(self) -> float | None:
        """Seconds since the last processed frame; None before the first."""
        return time.perf_counter() - self._done_at[-1] if self._done_at else None

    def snapshot(self, counters: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
        """Everything as one JSON-ready dict: what sinks receive and what the log shows."""
        elapsed = time.perf_counter() - self.started
        detections_per_s, classifications_per_s = self.per_second()
        return {
            "fps": round(self.fps(), 2),
            "frames": self.frames,
            "detections": self.detections,
            "frames_gated": self.frames_gated,
            "classifications": self.classifications,
            "detections_per_s": round(detections_per_s, 2),
            "classifications_per_s": round(classifications_per_s, 2),
            "faces": self.faces,
            "faces_per_frame": round(self.faces / self.frames, 3) if self.frames else 0.0,
            "uptime_s": round(elapsed, 1),
            "latency_ms": {name: w.summary() for name, w in self.stages.items() if w.count},
            "sink_errors": self.sink_errors,
            "frame_errors": self.frame_errors,
            **(counters or {}),
            "peak_rss_mb": peak_rss_mb(),
            **extra,
        }


def format_line(snapshot: dict[str, Any]) -> str:
    """One log line: fps, latency percentiles of the heavy stages, drops."""
    lat = snapshot.get("latency_ms", {})

    def p(name: str) -> str:
        s = lat.get(name)
        return f"{s['p50']:.1f}/{s['p99']:.1f}" if s else "-"

    return (
        f"fps {snapshot['fps']:.1f} | frames {snapshot['frames']} | faces/frame {snapshot['faces_per_frame']:.2f} | "
        f"detections/s {snapshot.get('detections_per_s', 0):.1f} classifications/s "
        f"{snapshot.get('classifications_per_s', 0):.1f} gated {snapshot.get('frames_gated', 0)} | "
        f"ms p50/p99 detect {p('detect')} infer {p('infer')} end-to-end {p('end_to_end')} | "
        f"dropped {snapshot.get('dropped_frames', 0)} bad {snapshot.get('bad_frames', 0)} "
        f"reconnects {snapshot.get('reconnects', 0)} | rss {snapshot['peak_rss_mb']:.0f} MB"
    )


def format_table(snapshot: dict[str, Any]) -> str:
    """The per-stage latency table."""
    lines = [f"{'stage':<14}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'max ms':>9}"]
    for name, s in snapshot.get("latency_ms", {}).items():
        lines.append(f"{name:<14}{s['p50']:>9.2f}{s['p95']:>9.2f}{s['p99']:>9.2f}{s['mean']:>9.2f}{s['max']:>9.2f}")
    return "\n".join(lines)
