"""What the frame loop hands on: per-frame face results and periodic stats.

The loop produces these; sinks (the MQTT publisher, a logger, a recorder) consume them through
``ResultSink``. A sink must never block the loop: it queues and returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from edge.jpeg_frame import Picture


@dataclass(frozen=True)
class FaceResult:
    """One tracked face in one frame.

    ``box`` is (x, y, w, h) in frame pixels; ``emotion`` and ``score`` are the smoothed label and
    its smoothed probability; ``scores`` maps every class name to its smoothed probability;
    ``raw_scores`` the same for this frame alone.
    """

    face_id: int
    box: tuple[int, int, int, int]
    emotion: str
    score: float
    scores: dict[str, float]
    raw_scores: dict[str, float] = field(default_factory=dict)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@dataclass(frozen=True)
class FrameResult:
    """All faces of one processed frame. ``timestamp`` is wall-clock seconds (time.time()) at
    capture; ``latency_ms`` from capture to this result."""

    frame_index: int
    timestamp: float
    width: int
    height: int
    faces: tuple[FaceResult, ...]
    latency_ms: float = 0.0
    main_id: int | None = None  # the pipeline's main face (None: the largest; see ``main_face``)

    @property
    def main_face(self) -> FaceResult | None:
        """The face the ``emotion`` topic follows: the pipeline's ``main_id`` where it is one of
        this frame's faces, else the largest."""
        if self.main_id is not None:
            for face in self.faces:
                if face.face_id == self.main_id:
                    return face
        return largest_face(self.faces)


def largest_face(faces: Sequence[FaceResult]) -> FaceResult | None:
    return max(faces, key=lambda f: f.area, default=None)


class ResultSink(Protocol):
    def handle_frame(self, result: FrameResult) -> None:
        """Called for every processed frame (with or without faces); must not block."""
        ...

    def handle_stats(self, stats: dict[str, Any]) -> None:
        """Called periodically with the loop's figures (fps, per-stage latency, drops, ...)."""
        ...

    def close(self) -> None:
        """Flush what can be flushed within its own time limit and release resources."""
        ...


class FrameSink(Protocol):
    """Takes the newest frame with its results (the live view); by reference, without copying.

    ``image`` must not be changed by the sink (draw on a copy); the loop does not change it after
    offering. It may be a JPEG frame not decoded yet (``edge.jpeg_frame.pixels`` decodes it, best
    only when the sink needs the pixels). ``annotated`` says the results are drawn on it already
    (--show/--record drew them)."""

    def offer(self, image: Picture, result: FrameResult, fps: float = 0.0, annotated: bool = False) -> None:
        """Called for every processed frame; must return at once (keep a reference, drop the older)."""
        ...
