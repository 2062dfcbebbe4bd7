"""Stable face ids across frames: greedy IoU matching with a short grace period.

A face keeps its id while its box overlaps its previous box by at least ``iou_threshold``; a face
missed for a moment (a blink of the detector, a hand in front) keeps its id if it reappears within
``grace_s`` seconds. A handful of faces per frame makes greedy matching by best IoU as good as an
optimal assignment, at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x, y, w, h


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


@dataclass
class Track:
    track_id: int
    box: Box
    last_seen: float
    hits: int = 1


class IouTracker:
    def __init__(self, iou_threshold: float = 0.3, grace_s: float = 0.5) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"tracker.iou_threshold must be in (0, 1], got {iou_threshold}")
        if grace_s < 0:
            raise ValueError(f"tracker.grace_s must be >= 0, got {grace_s}")
        self.iou_threshold = iou_threshold
        self.grace_s = grace_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    @property
    def active_ids(self) -> set[int]:
        return set(self.tracks)

    def update(self, boxes: Sequence[Box], now: float) -> list[int]:
        """The track id of each box, in the order given; ``now`` is the frame's time in seconds."""
        self.tracks = {i: t for i, t in self.tracks.items() if now - t.last_seen <= self.grace_s}
        pairs = sorted(
            (
                (overlap, track_id, d)
                for track_id, track in self.tracks.items()
                for d, box in enumerate(boxes)
                if (overlap := iou(track.box, box)) >= self.iou_threshold
            ),
            reverse=True,
        )
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for _, track_id, d in pairs:
            if ids[d] is None and track_id not in taken:
                ids[d] = track_id
                taken.add(track_id)
                track = self.tracks[track_id]
                track.box, track.last_seen, track.hits = boxes[d], now, track.hits + 1
        result: list[int] = []
        for d, box in enumerate(boxes):
            known = ids[d]
            if known is None:
                known = self._next_id
                self._next_id += 1
                self.tracks[known] = Track(known, box, now)
            result.append(known)
        return result
