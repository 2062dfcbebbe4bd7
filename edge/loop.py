"""The frame loop: newest frame in, tracked and smoothed faces out to every sink, figures on the side.

The loop runs on the calling thread; the capture thread feeds it (see ``edge.capture``). It stops
when ``stop()`` is called (from a signal handler, say), when the source ends or is given up, when a
frame limit is reached, or when the user closes the window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge.annotate import Recorder, Window, draw
from edge.capture import FrameGrabber
from edge.pipeline import FacePipeline
from edge.results import FrameResult, FrameSink, ResultSink
from edge.service.notify import Heartbeat
from edge.stats import LoopStats, format_line

log = logging.getLogger(__name__)

# A sink (or frames) that keep failing are logged on the first failure and then every this many.
ERROR_LOG_EVERY = 100


@dataclass(frozen=True)
class LoopSummary:
    frames: int
    reason: str  # stopped | source ended | source failed | frame limit | window closed
    stats: dict[str, Any]
    error: str | None = None


class FrameLoop:
    def __init__(
        self,
        grabber: FrameGrabber,
        pipeline: FacePipeline,
        sinks: Sequence[ResultSink] = (),
        stats: LoopStats | None = None,
        stats_interval_s: float = 10.0,
        window: Window | None = None,
        recorder: Recorder | None = None,
        stop_event: threading.Event | None = None,
        heartbeat: Heartbeat | None = None,
        frame_sinks: Sequence[FrameSink] = (),
    ) -> None:
        """``heartbeat`` tells systemd the loop is alive: it hears of processed frames only.
        ``frame_sinks`` (the live view) get each frame's image and results, after any drawing."""
        self.grabber = grabber
        self.pipeline = pipeline
        self.sinks = list(sinks)
        self.stats = stats or LoopStats()
        self.stats_interval_s = stats_interval_s
        self.window = window
        self.recorder = recorder
        self._stop = stop_event or threading.Event()
        self.heartbeat = heartbeat
        self.frame_sinks = list(frame_sinks)
        self._sink_errors: dict[int, int] = {}
        info = pipeline.classifier.info
        self.describe = {
            "source": grabber.uri,
            "backend": pipeline.classifier.backend,
            # Why this backend runs (auto: why TensorRT was not used); in the stats payload.
            "backend_reason": str(getattr(pipeline.classifier, "reason", "")),
            "model": f"{info.name} {info.version}",
            "detector": pipeline.detector.name,
        }

    def stop(self) -> None:
        """Ask the loop to finish the frame in hand and return; safe from signal handlers and threads."""
        self._stop.set()

    def snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(self.grabber.counters(), **self.describe)

    def run(self, max_frames: int | None = None, warmup: int = 0) -> LoopSummary:
        """Process frames until stopped; the first ``warmup`` frames are left out of the figures."""
        processed = 0
        reason = "stopped"
        last_report = time.perf_counter()
        wait_started = time.perf_counter()
        while not self._stop.is_set():
            if max_frames is not None and processed >= max_frames:
                reason = "frame limit"
                break
            frame = self.grabber.get(timeout=0.25)
            if frame is None:
                if self.grabber.finished:
                    reason = "source failed" if self.grabber.error else "source ended"
                    break
                if self.heartbeat is not None:
                    self.heartbeat.waiting(self.grabber.uri)
                last_report = self._maybe_report(last_report)
                continue
            t1 = time.perf_counter()
            try:
                faces, times = self.pipeline.process(frame.image, frame.captured_at)
            except Exception:
                # A frame the pipeline cannot take (odd shape or format) is counted and skipped.
                self._frame_failed(frame.index)
                wait_started = time.perf_counter()
                continue
            height, width = frame.image.shape[:2]
            result = FrameResult(
                frame_index=frame.index,
                timestamp=frame.wall_time,
                width=width,
                height=height,
                faces=tuple(faces),
                latency_ms=round((time.perf_counter() - frame.captured_at) * 1e3, 3),
            )
            t2 = time.perf_counter()
            self._hand_off(result)
            drawing = self.window is not None or self.recorder is not None
            if self.frame_sinks and not drawing:
                self._offer(frame.image, result, annotated=False)
            t3 = time.perf_counter()
            timings = {
                "capture_wait": (t1 - wait_started) * 1e3,
                "detect": times.detect,
                "align": times.align,
                "infer": times.infer,
                "track": times.track,
                "publish": (t3 - t2) * 1e3,
                "end_to_end": (t3 - frame.captured_at) * 1e3,
            }
            if drawing:
                annotated = draw(frame.image, result, self.stats.fps())
                if self.recorder is not None:
                    self.recorder.write(annotated)
                if self.window is not None and not self.window.show(annotated):
                    reason = "window closed"
                    self._stop.set()
                if self.frame_sinks:
                    self._offer(annotated, result, annotated=True)
                timings["draw"] = (time.perf_counter() - t3) * 1e3
            processed += 1
            self.stats.record(timings, len(faces))
            if self.heartbeat is not None:
                self.heartbeat.frame(self.stats.fps(), len(faces), processed)
            if processed == warmup:
                self.stats.reset()
            last_report = self._maybe_report(last_report)
            wait_started = time.perf_counter()
        # The last figures go out too, so a sink sees how the run ended.
        return LoopSummary(processed, reason, self._report(), self.grabber.error)

    def _hand_off(self, result: FrameResult) -> None:
        for i, sink in enumerate(self.sinks):
            try:
                sink.handle_frame(result)
            except Exception:
                self._sink_failed(i, sink, "handle_frame")

    def _offer(self, image: Any, result: FrameResult, annotated: bool) -> None:
        fps = self.stats.fps()
        for i, sink in enumerate(self.frame_sinks):
            try:
                sink.offer(image, result, fps, annotated)
            except Exception:
                self._sink_failed(len(self.sinks) + i, sink, "offer")

    def _maybe_report(self, last: float) -> float:
        now = time.perf_counter()
        if now - last < self.stats_interval_s:
            return last
        log.info("%s", format_line(self._report()))
        return now

    def _report(self) -> dict[str, Any]:
        snapshot = self.snapshot()
        for i, sink in enumerate(self.sinks):
            try:
                sink.handle_stats(snapshot)
            except Exception:
                self._sink_failed(i, sink, "handle_stats")
        return snapshot

    def _frame_failed(self, index: int) -> None:
        self.stats.frame_errors += 1
        count = self.stats.frame_errors
        if count == 1 or count % ERROR_LOG_EVERY == 0:
            log.exception("frame %d could not be processed (%d such frames so far)", index, count)

    def _sink_failed(self, index: int, sink: object, what: str) -> None:
        # A broken sink must not stop the device: count it, log it now and then.
        self.stats.sink_errors += 1
        count = self._sink_errors[index] = self._sink_errors.get(index, 0) + 1
        if count == 1 or count % ERROR_LOG_EVERY == 0:
            log.exception("%s.%s failed (%d failures so far)", type(sink).__name__, what, count)


def close_sinks(sinks: Sequence[ResultSink]) -> None:
    """Close every sink, even when one of them fails to."""
    for sink in sinks:
        try:
            sink.close()
        except Exception:
            log.exception("closing %s failed", type(sink).__name__)
