"""The frame hand-over (one slot, newest wins) and the encoder thread that runs only while a viewer waits.

The loop leaves its newest frame in the slot and moves on; a thread draws, shrinks and JPEG-encodes
it only while a viewer waits for a picture, at a capped rate.

The loop's side (``offer``) is a tuple assignment and, while a viewer waits, an ``Event.set``: it never
waits for a viewer or the encoder. The image is taken by reference and never written to (the encoder
draws on its own shrunken copy), so the loop must not change it after offering it; it does not (each
frame is a new array). With no viewer connected nothing is drawn or encoded; a viewer that stops
reading blocks only its own connection, and is simply not waiting, so nothing is encoded for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from edge.annotate import draw
from edge.detect import Frame
from edge.jpeg_frame import Picture, pixels
from edge.results import FrameResult

log = logging.getLogger(__name__)


class TooManyViewers(RuntimeError):
    """Every stream slot (``web.max_viewers``) is taken."""


def scaled(result: FrameResult, scale: float) -> FrameResult:
    """``result`` with its boxes in the coordinates of a frame resized by ``scale``."""
    if scale == 1.0:
        return result
    faces = tuple(replace(f, box=(*(round(v * scale) for v in f.box),)) for f in result.faces)  # type: ignore[arg-type]
    return replace(result, faces=faces, width=round(result.width * scale), height=round(result.height * scale))


def render(image: Frame, result: FrameResult, fps: float, annotated: bool, max_width: int) -> Frame:
    """A new image at most ``max_width`` wide with the results drawn on; ``image`` is left as it was."""
    if image.ndim == 2:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    height, width = image.shape[:2]
    scale = min(1.0, max_width / width)
    out: Frame
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        out = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    else:
        out = image.copy()
    if not annotated:
        draw(out, scaled(result, scale), fps)
    return out


class LiveFrames:
    """One slot in (the loop's newest frame), one JPEG out (shared by every viewer)."""

    def __init__(self, max_fps: float = 10.0, max_width: int = 640, quality: int = 70) -> None:
        self.max_fps = max_fps
        self.max_width = max_width
        self.quality = quality
        self.max_viewers = 4
        self._slot: tuple[Picture, FrameResult, float, bool] | None = None
        self._fresh = threading.Event()  # a frame was offered while a viewer waited
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._waiting = 0  # viewers waiting for a newer picture than they have
        self.viewers = 0  # open streams
        self.offered = 0
        self.encoded = 0
        self.encode_ms = 0.0  # total, for the mean
        self.bytes_encoded = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the loop's side --------------------------------------------------------------------------

    def offer(self, image: Picture, result: FrameResult, fps: float = 0.0, annotated: bool = False) -> None:
        """Leave the newest frame (by reference) and return at once; a JPEG frame is decoded here
        only when a viewer waits for it."""
        self._slot = (image, result, fps, annotated)
        self.offered += 1
        if self._waiting:
            self._fresh.set()

    # --- the encoder --------------------------------------------------------------------------------

    def start(self) -> LiveFrames:
        self._thread = threading.Thread(target=self._run, name="web-encoder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._fresh.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _run(self) -> None:
        done: tuple[Any, ...] | None = None
        next_at = 0.0
        while not self._stopping.is_set():
            # Asleep until a viewer waits and a frame arrives: with no viewer nothing runs.
            self._fresh.wait(1.0)
            self._fresh.clear()
            if self._stopping.is_set():
                break
            slot = self._slot
            if not self._waiting or slot is None or slot is done:
                continue
            delay = next_at - time.perf_counter()
            if delay > 0:  # the rate cap: wait, then take whatever is newest by then
                self._stopping.wait(delay)
                slot = self._slot or slot
            started = time.perf_counter()
            next_at = started + 1.0 / self.max_fps
            try:
                image, result, fps, annotated = slot
                picture = render(pixels(image), result, fps, annotated, self.max_width)
                ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    raise RuntimeError("cv2.imencode refused the frame")
            except Exception:
                log.exception("the live view could not encode frame %d", slot[1].frame_index)
                done = slot
                continue
            done = slot
            jpeg = buf.tobytes()
            with self._cond:
                self._jpeg = jpeg
                self._jpeg_seq += 1
                self.encoded += 1
                self.encode_ms += (time.perf_counter() - started) * 1e3
                self.bytes_encoded += len(jpeg)
                self._cond.notify_all()

    # --- the viewers' side ------------------------------------------------------------------------

    @contextmanager
    def viewer(self) -> Iterator[None]:
        """Hold one of the ``max_viewers`` stream slots while inside."""
        with self._cond:
            if self.viewers >= self.max_viewers:
                raise TooManyViewers(f"{self.viewers} streams are open (web.max_viewers)")
            self.viewers += 1
        try:
            yield
        finally:
            with self._cond:
                self.viewers -= 1

    def next_jpeg(self, after: int = 0, timeout: float = 1.0) -> tuple[int, bytes] | None:
        """A picture newer than number ``after``, waiting up to ``timeout`` s for the encoder; None
        when none came (or the view is stopping)."""
        with self._cond:
            self._waiting += 1
            try:
                if self._jpeg_seq <= after:
                    self._fresh.set()  # the frame in the slot may be one this viewer has not seen
                    self._cond.wait_for(lambda: self._jpeg_seq > after or self._stopping.is_set(), timeout)
            finally:
                self._waiting -= 1
            if self._jpeg is None or self._jpeg_seq <= after or self._stopping.is_set():
                return None
            return self._jpeg_seq, self._jpeg

    @property
    def latest_seq(self) -> int:
        return self._jpeg_seq

    def counters(self) -> dict[str, Any]:
        return {
            "viewers": self.viewers,
            "offered": self.offered,
            "encoded": self.encoded,
            "encode_ms_mean": round(self.encode_ms / self.encoded, 2) if self.encoded else None,
            "jpeg_kb_mean": round(self.bytes_encoded / self.encoded / 1024, 1) if self.encoded else None,
            "max_fps": self.max_fps,
            "max_width": self.max_width,
        }
