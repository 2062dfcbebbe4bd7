"""The capture thread: reads a source on its own thread and hands the loop one frame at a time.

In ``latest`` mode (cameras, and files played in real time) it keeps only the newest frame, so the
loop never works on a stale one; every frame replaced before the loop took it is counted as
dropped. In ``every`` mode (benchmarks, batch runs over a file) the thread waits for the loop, so
nothing is dropped. A source that fails is closed and reopened with exponential backoff; a finite
source that ends finishes the grabber. With ``wait_at_start``, a source that cannot be opened at
start (a USB camera that appears after the service started) is waited for the same way.

``phase`` says what the capture thread is doing: ``opening`` or ``reading`` (inside the driver,
where a hung camera blocks), ``waiting`` (sleeping between reopen attempts: alive, and saying what
it waits for in ``waiting_for``), ``done``. The service pings systemd's watchdog while frames come
or while the thread is ``waiting``, never while it is stuck in a read or an open.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from edge.jpeg_frame import Picture
from edge.sources import Source, SourceEnded, SourceError, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapturedFrame:
    image: Picture  # decoded, or a JPEG decoded when needed (edge.jpeg_frame)
    index: int  # sequence number of the frame among those read from the source, from 0
    captured_at: float  # time.perf_counter() when the frame became available
    wall_time: float  # time.time() at the same moment


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float = 0.5
    max_s: float = 10.0
    max_retries: int = 0  # reopen attempts in a row before giving up; 0 retries forever

    def delay(self, attempt: int) -> float:
        return float(min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1)))


class FrameGrabber:
    """Owns the source from ``start()`` (which opens it, so open errors surface at once) to
    ``stop()`` (which closes it)."""

    def __init__(
        self,
        source: Source,
        keep_latest: bool = True,
        pace_fps: float | None = None,
        retry: RetryPolicy | None = None,
        pace_to_source: bool = False,
        wait_at_start: bool = False,
    ) -> None:
        """``pace_fps`` delivers at most that many frames per second; ``pace_to_source`` paces a
        file or folder at its own rate (known once it is open), as if it were a camera;
        ``wait_at_start`` waits for a source that cannot be opened yet instead of raising."""
        self.source = source
        self.keep_latest = keep_latest
        self.pace_fps = pace_fps
        self.pace_to_source = pace_to_source
        self.retry = retry or RetryPolicy()
        self.frames_read = 0
        self.dropped = 0
        self.failures = 0
        self.reconnects = 0
        self.error: str | None = None  # why the grabber gave up, when it did
        self.wait_at_start = wait_at_start
        # What the capture thread is doing (see the module's notes), since when, and what it waits for.
        self.phase = "idle"
        self.phase_since = time.monotonic()
        self.waiting_for: str | None = None
        self._pending: Exception | None = None
        # Reopen attempts since the last frame: a source that opens but gives nothing (a folder of
        # unreadable images, a stream that accepts and sends nothing) keeps backing off instead of
        # starting again at retry.initial_s on every successful open.
        self._attempts = 0
        self._said: str | None = None  # the failure reason already logged in full
        self._slot: CapturedFrame | None = None
        self._finished = False
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return redact(self.source.uri)

    @property
    def bad_frames(self) -> int:
        return self.source.bad_frames

    @property
    def finished(self) -> bool:
        """True once the source ended or was given up and its last frame has been taken."""
        with self._cond:
            return self._finished and self._slot is None

    def start(self) -> FrameGrabber:
        self._set_phase("opening")
        try:
            self.source.open()
        except SourceError as exc:
            if not self.wait_at_start or getattr(exc, "permanent", False):
                self._set_phase("done")
                raise
            self._pending = exc  # the capture thread waits for it, with the retry policy's backoff
        else:
            self._opened()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()
        return self

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """The next frame, or None when none came within ``timeout`` or the source is done."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._slot is not None or self._finished, timeout):
                return None
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                # A driver blocked inside read() cannot be interrupted; the thread is a daemon.
                log.warning("capture thread for %s did not stop within %.0f s", self.uri, timeout)
                return
        self.source.close()

    def counters(self) -> dict[str, int]:
        return {
            "frames_read": self.frames_read,
            "dropped_frames": self.dropped,
            "bad_frames": self.bad_frames,
            "source_failures": self.failures,
            "reconnects": self.reconnects,
        }

    # --- the capture thread ---------------------------------------------------------------------

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self.phase_since = time.monotonic()

    def _opened(self) -> None:
        if self.pace_to_source and not self.source.live:
            self.pace_fps = self.source.nominal_fps
        self.waiting_for = None
        self._set_phase("reading")

    def _run(self) -> None:
        try:
            if self._pending is not None and not self._recover(self._pending, at_start=True):
                return
            self._read_frames()
        finally:
            with self._cond:
                self._set_phase("done")
                self._finished = True
                self._cond.notify_all()

    def _read_frames(self) -> None:
        period = 1.0 / self.pace_fps if self.pace_fps else 0.0
        due = time.perf_counter()
        while not self._stop.is_set():
            try:
                image = self.source.read()
            except SourceEnded as exc:
                log.info("%s", exc)
                break
            except Exception as exc:  # any read error (ours or cv2's) is a failure to retry
                if not self._recover(exc):
                    break
                period = 1.0 / self.pace_fps if self.pace_fps else 0.0
                due = time.perf_counter()
                continue
            self._attempts, self._said = 0, None
            if period:
                due += period
                delay = due - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -period:
                    due = time.perf_counter()  # fell behind: do not burst to catch up
            self._publish(image)

    def _publish(self, image: Picture) -> None:
        with self._cond:
            if not self.keep_latest:
                self._cond.wait_for(lambda: self._slot is None or self._stop.is_set())
                if self._stop.is_set():
                    return
            elif self._slot is not None:
                self.dropped += 1
            self._slot = CapturedFrame(image, self.frames_read, time.perf_counter(), time.time())
            self.frames_read += 1
            self._cond.notify_all()

    def _recover(self, exc: Exception, at_start: bool = False) -> bool:
        """Close and reopen the source with backoff; False when retries ran out or we were stopped.
        ``at_start``: the source could not be opened at all yet (waited for the same way)."""
        if not at_start:
            self.failures += 1
        self.source.close()
        reason = _reason(exc)
        doing = "waiting for" if at_start else "source lost, reopening"
        while not self._stop.is_set():
            self._attempts += 1
            attempt = self._attempts
            if self.retry.max_retries and attempt > self.retry.max_retries:
                what = "attempts to open it" if at_start else "reopen attempts"
                self.error = f"{self.uri}: gave up after {self.retry.max_retries} {what} ({reason})"
                log.error("%s", self.error)
                return False
            delay = self.retry.delay(attempt)
            self.waiting_for = f"{doing} {self.uri}: {reason}"
            # The reason is said once, in full; each later attempt with the same reason is one short
            # line (the growing delay shows the backoff), as systemd and Mosquitto's bridge do.
            if reason == self._said:
                log.info("%s %s (same reason); next attempt in %g s (attempt %d)", doing, self.uri, delay, attempt)
            elif at_start and attempt == 1:
                log.warning("%s; waiting for it (retrying with backoff, up to %.0f s apart)", reason, self.retry.max_s)
            else:
                log.warning("%s; next attempt in %g s (attempt %d)", self.waiting_for, delay, attempt)
            self._said = reason
            self._set_phase("waiting")
            if self._stop.wait(delay):
                return False
            self._set_phase("opening")
            try:
                self.source.open()
            except SourceError as err:
                reason = str(err)
                continue
            except Exception as err:  # cv2 may raise its own error types while reopening
                reason = f"{type(err).__name__}: {err}"
                continue
            if at_start:
                log.info("source %s opened after %d attempt(s)", self.uri, attempt)
            else:
                self.reconnects += 1
                log.info("source %s reopened after %d attempt(s)", self.uri, attempt)
            self._opened()
            return True
        return False


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
