"""The motion gate: did anything in the picture change? A few hundred microseconds per frame.

Each frame is shrunk to a small grey copy (``WIDTH`` pixels across), its global brightness is
scaled to the background's (a camera's auto-exposure or a cloud passing changes every pixel alike,
which is not motion), and it is compared with a running average of the previous frames (the
background). Pixels that differ by more than ``threshold`` grey levels count as changed; the frame
moved when they cover at least ``min_area`` of the picture. The average then takes in the frame
with weight ``alpha``, so slow lighting drift and a still object become background within a second
or two, and sensor noise (a few grey levels per pixel) is averaged away by the shrinking.

This is Frigate's recipe (a small grey frame, a running average, a delta threshold and a minimum
changed area) with a global brightness normalisation in front. The first frame counts as motion:
there is no background yet, and a face already in view must be looked for once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.jpeg_frame import JpegFrame, Picture, pixels

WIDTH = 80  # pixels across the grey copy: 640x480 becomes 80x60 (a face of 24 px is still 3x3)
BLUR = (3, 3)  # a small blur on the copy takes the last of the per-pixel noise


class MotionGate:
    """``update(frame)`` says whether the frame moved against the background, and learns it."""

    def __init__(self, threshold: float = 25.0, min_area: float = 0.002, alpha: float = 0.05) -> None:
        if not 0 < threshold < 255:
            raise ValueError(f"motion.threshold must be in (0, 255) grey levels, got {threshold}")
        if not 0 <= min_area <= 1:
            raise ValueError(f"motion.min_area must be in [0, 1] (a fraction of the frame), got {min_area}")
        if not 0 < alpha <= 1:
            raise ValueError(f"motion.alpha must be in (0, 1], got {alpha}")
        self.threshold = float(threshold)
        self.min_area = float(min_area)
        self.alpha = float(alpha)
        self._background: npt.NDArray[np.float32] | None = None
        self._size: tuple[int, int] | None = None
        self.changed = 0.0  # the fraction of the picture that changed in the latest frame
        self.grey: npt.NDArray[np.float32] | None = None  # the latest small grey copy, brightness-matched
        # Where the latest frame differs from the one before (not from the background, which keeps a
        # trail of whatever moved for a second): what moved just now.
        self.fresh: npt.NDArray[np.bool_] | None = None
        self._previous: npt.NDArray[np.float32] | None = None

    def reset(self) -> None:
        """Forget the background (a new source): the next frame counts as motion."""
        self._background = None

    def moved_elsewhere(
        self, boxes: Sequence[tuple[float, float, float, float]], frame_width: int, body: bool = True
    ) -> bool:
        """Whether something moved just now (since the previous frame) away from every face in
        ``boxes`` (frame pixels) and its body (a box to each side, three below; ``body`` False: a
        quarter of the box around it): over ``min_area`` of the picture, as a person who comes into
        view, which the detector should look at now."""
        fresh = self.fresh
        if fresh is None:
            return False
        mask = fresh.copy()
        scale = mask.shape[1] / frame_width
        for x, y, w, h in boxes:
            left, right, above, below = (w, 2 * w, h / 2, 3 * h) if body else (w / 4, 5 * w / 4, h / 4, 5 * h / 4)
            x0, x1 = max(0, int((x - left) * scale)), max(0, int(np.ceil((x + right) * scale)))
            y0, y1 = max(0, int((y - above) * scale)), max(0, int(np.ceil((y + below) * scale)))
            mask[y0:y1, x0:x1] = False
        return bool(int(np.count_nonzero(mask)) >= max(1.0, self.min_area * mask.size))

    def update(self, frame: Picture) -> bool:
        h, w = frame.shape[:2]
        if self._size != (w, h):
            self._size, self._background = (w, h), None
        grey = self.grey = small_grey(frame)
        background, previous = self._background, self._previous
        if background is None or previous is None:
            self._background, self._previous, self.fresh = grey.copy(), grey, None
            self.changed = 1.0
            return True
        mean = float(grey.mean())
        if mean > 1.0:
            grey *= float(background.mean()) / mean
        self.fresh = cv2.absdiff(grey, previous) > self.threshold
        self._previous = grey
        diff = cv2.absdiff(grey, background)
        self.changed = float(np.count_nonzero(diff > self.threshold)) / diff.size
        cv2.accumulateWeighted(grey, background, self.alpha)
        return self.changed > 0 and self.changed >= self.min_area


def small_grey(frame: Picture) -> npt.NDArray[np.float32]:
    """The frame as a small float grey copy, ``WIDTH`` pixels across. Linear interpolation samples
    2x2 pixels per output pixel (a tenth of INTER_AREA's cost at this scale); the blur does the rest
    of the averaging. A JPEG frame not yet decoded is decoded at an eighth of its size instead: each
    pixel is then the average of an 8 x 8 block already, and no blur is needed (nor OpenCV's thread
    pool, whose workers spin for a while after each call: more CPU than the gate's own work)."""
    h, w = frame.shape[:2]
    size = (WIDTH, max(1, round(h * WIDTH / w)))
    reduced = frame.reduced_grey(WIDTH) if isinstance(frame, JpegFrame) and not frame.decoded else None
    if reduced is not None and reduced.shape[:2] == (size[1], size[0]):
        return np.asarray(reduced, dtype=np.float32)
    small: npt.NDArray[Any] = reduced if reduced is not None else pixels(frame)
    if small.shape[:2] != (size[1], size[0]):
        small = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.GaussianBlur(small, BLUR, 0), dtype=np.float32)


SIGNATURE = 16  # a face's look: its box in the small grey copy, as 16 x 16 grey levels


def face_signature(
    grey: npt.NDArray[np.float32], box: tuple[float, float, float, float], frame_width: int
) -> npt.NDArray[np.float32]:
    """The face in ``box`` (frame pixels) as a zero-mean 16 x 16 patch of the small grey copy:
    two of them differ by a few grey levels while a face drifts or blinks, by tens when another
    face (or another expression at full stretch) is there."""
    scale = grey.shape[1] / frame_width
    x, y, w, h = (v * scale for v in box)
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(grey.shape[1], max(x0 + 1, round(x + w))), min(grey.shape[0], max(y0 + 1, round(y + h)))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((SIGNATURE, SIGNATURE), np.float32)
    patch = cv2.resize(grey[y0:y1, x0:x1], (SIGNATURE, SIGNATURE), interpolation=cv2.INTER_LINEAR)
    return np.asarray(patch - patch.mean(), dtype=np.float32)


def look_change(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Mean absolute difference of two signatures, in grey levels."""
    return float(np.abs(a - b).mean())
