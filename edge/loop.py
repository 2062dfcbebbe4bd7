"""The frame loop: newest frame in, tracked and smoothed faces out to every sink, figures on the side.

The loop runs on the calling thread; the capture thread feeds it (see ``edge.capture``). It stops
when ``stop()`` is called (from a signal handler, say), when the source ends or is given up, when a
frame limit is reached, when the user closes the window, or when the detector or the classifier
failed on ``max_failed_frames`` frames in a row.

Health. The loop knows its state and says it in every stats report (``state``, ``reasons``), in
systemd's ``STATUS=`` line and in the log: ``ok``; ``degraded`` while it waits for a source (at
start or after losing it), gets no frame, has frames failing in the detector or the classifier,
or runs on a fallback backend; ``failed`` when it stops on a fault that cannot heal. Stats go out
on schedule whether or not frames flow, and sinks with a ``handle_idle()`` hear of every moment
without a processed frame (the MQTT publisher then lets the emotion go to ``none``).
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
from edge.jpeg_frame import pixels
from edge.pipeline import FacePipeline, FrameError
from edge.results import FrameResult, FrameSink, ResultSink
from edge.service.notify import Heartbeat
from edge.stats import LoopStats, format_line

log = logging.getLogger(__name__)

# A sink (or frames) that keep failing are logged on the first failure and then every this many.
ERROR_LOG_EVERY = 100
# No processed frame for this long (while the source is not known to be away) makes the state degraded.
NO_FRAME_S = 5.0


@dataclass(frozen=True)
class LoopSummary:
    frames: int
    reason: str  # stopped | source ended | source failed | frame limit | window closed | failed
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
        max_failed_frames: int = 0,
    ) -> None:
        """``heartbeat`` tells systemd the loop is alive: it hears of processed frames, and of the
        capture thread waiting for its source (a known state), never of a hung read.
        ``frame_sinks`` (the live view) get each frame's image and results, after any drawing.
        ``max_failed_frames``: frames in a row the pipeline may fail on before the loop stops as
        ``failed`` (0: never)."""
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
        self.max_failed_frames = max_failed_frames
        self._sink_errors: dict[int, int] = {}
        self.failed_in_a_row = 0
        self.last_frame_error: str | None = None
        self.failure: str | None = None  # why the loop stopped as failed
        self._started = time.perf_counter()
        self._processed = 0
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
        state, reasons = self.health()
        age = self.stats.last_frame_age()
        return self.stats.snapshot(
            self.grabber.counters(),
            **self.describe,
            state=state,
            reasons=reasons,
            last_frame_age_s=None if age is None else round(age, 1),
            failed_in_a_row=self.failed_in_a_row,
        )

    def health(self) -> tuple[str, list[str]]:
        """The state (``ok``, ``degraded``, ``failed``) and why it is not ``ok``, one line each."""
        if self.failure is not None:
            return "failed", [self.failure]
        reasons = []
        if self.grabber.waiting_for:
            reasons.append(self.grabber.waiting_for)
        elif self.grabber.error:
            reasons.append(self.grabber.error)
        else:
            idle = self._idle_s()
            if idle >= NO_FRAME_S and self.failed_in_a_row == 0:
                what = "no frame" if self._processed else "no frame yet"
                reasons.append(f"{what} from {self.grabber.uri} for {idle:.0f} s")
        if self.failed_in_a_row:
            reasons.append(f"{self.failed_in_a_row} frame(s) in a row failed: {self.last_frame_error}")
        backend = getattr(self.pipeline.classifier, "reason", "") or ""
        if backend.startswith(("TensorRT failed", "TensorRT not used")):
            reasons.append(f"backend fallback: {backend}")
        return ("degraded" if reasons else "ok"), reasons

    def _idle_s(self) -> float:
        age = self.stats.last_frame_age()
        return time.perf_counter() - self._started if age is None else age

    def status_line(self) -> str:
        """For systemd's STATUS= while no frame is processed: what the loop waits for, or why frames fail."""
        if self.grabber.waiting_for:
            return f"degraded: {self.grabber.waiting_for}"
        if self.failed_in_a_row:
            return f"degraded: {self.failed_in_a_row} frame(s) in a row failed: {self.last_frame_error}"
        if self._processed == 0:
            return f"waiting for the first frame from {self.grabber.uri}"
        return f"no frame from {self.grabber.uri} for {self._idle_s():.0f} s"

    def run(self, max_frames: int | None = None, warmup: int = 0) -> LoopSummary:
        """Process frames until stopped; the first ``warmup`` frames are left out of the figures."""
        processed = 0
        reason = "stopped"
        error: str | None = None
        self._started = last_report = wait_started = time.perf_counter()
        while not self._stop.is_set():
            if max_frames is not None and processed >= max_frames:
                reason = "frame limit"
                break
            frame = self.grabber.get(timeout=0.25)
            if frame is None:
                if self.grabber.finished:
                    reason = "source failed" if self.grabber.error else "source ended"
                    break
                self._idle()
                last_report = self._maybe_report(last_report)
                continue
            t1 = time.perf_counter()
            try:
                faces, times = self.pipeline.process(frame.image, frame.captured_at)
            except Exception as exc:
                # A frame the pipeline cannot take is counted and skipped; one that fails on every
                # frame (a wrong model file) stops the loop after max_failed_frames.
                self._frame_failed(frame.index, exc)
                if self.max_failed_frames and self.failed_in_a_row >= self.max_failed_frames:
                    reason = "failed"
                    self.failure = error = self._give_up(exc)
                    break
                self._idle()
                last_report = self._maybe_report(last_report)
                wait_started = time.perf_counter()
                continue
            self.failed_in_a_row = 0
            height, width = frame.image.shape[:2]
            result = FrameResult(
                frame_index=frame.index,
                timestamp=frame.wall_time,
                width=width,
                height=height,
                faces=tuple(faces),
                main_id=self.pipeline.main_id,
                latency_ms=round((time.perf_counter() - frame.captured_at) * 1e3, 3),
            )
            t2 = time.perf_counter()
            self._hand_off(result)
            drawing = self.window is not None or self.recorder is not None
            if self.frame_sinks and not drawing:
                self._offer(frame.image, result, annotated=False)
            t3 = time.perf_counter()
            cadence = self.pipeline.cadence
            timings = {"capture_wait": (t1 - wait_started) * 1e3}
            if cadence.gate is not None and times.looked:
                timings["motion"] = times.motion
            # A stage's figures are of the frames it ran on (the cadence skips the detector and the
            # classifier on most frames; their zeros would hide what a run costs).
            if times.detected:
                timings["detect"] = times.detect
            if times.classified or (times.detected and cadence.every_frame):
                timings["align"], timings["infer"] = times.align, times.infer
            timings["track"] = times.track
            timings["publish"] = (t3 - t2) * 1e3
            timings["end_to_end"] = (t3 - frame.captured_at) * 1e3
            if drawing:
                annotated = draw(pixels(frame.image), result, self.stats.fps())
                if self.recorder is not None:
                    self.recorder.write(annotated)
                if self.window is not None and not self.window.show(annotated):
                    reason = "window closed"
                    self._stop.set()
                if self.frame_sinks:
                    self._offer(annotated, result, annotated=True)
                timings["draw"] = (time.perf_counter() - t3) * 1e3
            processed += 1
            self._processed = processed
            self.stats.record(timings, len(faces), times.detected, times.gated, times.classified)
            if self.heartbeat is not None:
                self.heartbeat.frame(self.stats.fps(), len(faces), processed)
            if processed == warmup:
                self.stats.reset()
            last_report = self._maybe_report(last_report)
            wait_started = time.perf_counter()
        if reason == "source failed":
            self.failure = error = self.grabber.error
        elif reason == "source ended" and processed == 0:
            # A file or folder that yields no frame the pipeline can take is a fault, not an end.
            reason = "failed"
            read = self.grabber.frames_read
            why = f"; the last error: {self.last_frame_error}" if self.last_frame_error else ""
            self.failure = error = (
                f"{self.grabber.uri}: no frame could be processed ({read} read, "
                f"{self.stats.frame_errors} failed, {self.grabber.bad_frames} unreadable){why}"
            )
        # The last figures go out too, so a sink sees how the run ended (a failure as state "failed").
        return LoopSummary(processed, reason, self._report(), error)

    def _idle(self) -> None:
        """No frame was processed just now: tell the sinks that want to know (the publisher lets
        the emotion go to none) and systemd (alive only while the capture thread waits for its
        source between attempts: a read or an open that hangs stops the pings)."""
        for i, sink in enumerate(self.sinks):
            idle = getattr(sink, "handle_idle", None)
            if idle is None:
                continue
            try:
                idle()
            except Exception:
                self._sink_failed(i, sink, "handle_idle")
        if self.heartbeat is not None:
            if self.grabber.waiting_for or self.failed_in_a_row:
                self.heartbeat.idle(self.status_line(), alive=self.grabber.phase == "waiting")
            else:
                self.heartbeat.waiting(self.grabber.uri)

    def _give_up(self, exc: Exception) -> str:
        n = self.failed_in_a_row
        if isinstance(exc, FrameError):
            message = f"{exc.what} failed on {n} frames in a row ({exc.cause}): {exc.fix}"
        else:
            message = f"frame processing failed on {n} frames in a row ({type(exc).__name__}: {exc})"
        return f"{message} (stopped after health.max_failed_frames = {self.max_failed_frames})"

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

    def _frame_failed(self, index: int, exc: Exception) -> None:
        self.stats.frame_errors += 1
        self.failed_in_a_row += 1
        self.last_frame_error = " ".join(str(exc).split())[:300] or type(exc).__name__
        count = self.stats.frame_errors
        if count == 1 or count % ERROR_LOG_EVERY == 0:
            log.error("frame %d could not be processed: %s (%d such frames so far)", index, exc, count)
            log.debug("the traceback of frame %d's failure", index, exc_info=exc)

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
