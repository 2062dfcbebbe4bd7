"""Stable face ids across frames: greedy IoU matching with a short grace period; boxes carried
between detections by each face's velocity.

A face keeps its id while its box overlaps its previous box by at least ``iou_threshold``; a face
missed for a moment (a blink of the detector, a hand in front) keeps its id if it reappears within
``grace_s`` seconds. A handful of faces per frame makes greedy matching by best IoU as good as an
optimal assignment, at a fraction of the cost.

Between detections (``detector.interval``) ``visible(now)`` gives each face seen at the latest
detection with its box carried along its velocity (a running average over its last detections; a
jump is no velocity; the device's choice) or, without ``carry_velocity``, held where it was, as
DeepStream's trackers carry objects over the frames its detector skips. Chosen by measurement
(``emotion-edge bench --compare``, README): held boxes overlap the every-frame pipeline's boxes a
little more on the near-still bench clips (IoU 0.970 against 0.96 with one face), where detector
jitter is most of a velocity, and the two cost the same there; with faces that walk in and out a
held box falls behind, the face's look in it changes and the detector is called early (0.47
detections a frame against 0.42; over two runs 48-57 % of the every-frame CPU against 47-52 %), and
the emotion agreed as often or more by velocity (98.3-98.7 % against 94.0-98.3 %). Sparse optical flow (a grey
frame and an image pyramid per frame) is not built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.detect import Face

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
    velocity: Box = (0.0, 0.0, 0.0, 0.0)  # box units per second: x, y, w, h
    seen: bool = True  # matched at the latest detection


# A velocity measured over a longer gap than this says little about the next frames.
MAX_VELOCITY_GAP_S = 1.0
# Boxes are carried along their velocity for at most this long; then they stay where they are.
MAX_CARRY_S = 0.5
# Between two detections a moving face's box overlaps its last by more than this (at 10 detections
# a second, a face crossing the frame in a second still does); less is a jump, not a velocity.
JUMP_IOU = 0.6


class IouTracker:
    def __init__(self, iou_threshold: float = 0.3, grace_s: float = 0.5, carry_velocity: bool = True) -> None:
        """``carry_velocity`` False holds carried boxes still (the benchmark's alternative)."""
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"tracker.iou_threshold must be in (0, 1], got {iou_threshold}")
        if grace_s < 0:
            raise ValueError(f"tracker.grace_s must be >= 0, got {grace_s}")
        self.iou_threshold = iou_threshold
        self.grace_s = grace_s
        self.carry_velocity = carry_velocity
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
        for track in self.tracks.values():
            track.seen = False
        for _, track_id, d in pairs:
            if ids[d] is None and track_id not in taken:
                ids[d] = track_id
                taken.add(track_id)
                track = self.tracks[track_id]
                track.velocity = _velocity(track, boxes[d], now)
                track.box, track.last_seen, track.hits, track.seen = boxes[d], now, track.hits + 1, True
        result: list[int] = []
        for d, box in enumerate(boxes):
            known = ids[d]
            if known is None:
                known = self._next_id
                self._next_id += 1
                self.tracks[known] = Track(known, box, now)
            result.append(known)
        return result

    def visible(self, now: float) -> list[tuple[int, Box]]:
        """Each face seen at the latest detection with its box carried to ``now``, in id order."""
        out = []
        for track_id, track in sorted(self.tracks.items()):
            if not track.seen:
                continue
            dt = min(max(0.0, now - track.last_seen), MAX_CARRY_S) if self.carry_velocity else 0.0
            box = tuple(b + v * dt for b, v in zip(track.box, track.velocity))
            out.append((track_id, (box[0], box[1], max(1.0, box[2]), max(1.0, box[3]))))
        return out


def _velocity(track: Track, box: Box, now: float) -> Box:
    dt = now - track.last_seen
    # A box that jumped (another face took the place, a detector hiccup) says nothing of motion.
    if dt <= 0 or dt > MAX_VELOCITY_GAP_S or iou(track.box, box) < JUMP_IOU:
        return (0.0, 0.0, 0.0, 0.0)
    step = tuple((b - a) / dt for a, b in zip(track.box, box))
    if track.hits == 1:
        return step  # type: ignore[return-value]
    # Half the newest step, half the history: detector jitter of a pixel or two does not swing it.
    return tuple(0.5 * s + 0.5 * v for s, v in zip(step, track.velocity))  # type: ignore[return-value]


def carried(face: Face, box: Box) -> Face:
    """``face`` moved to ``box``: its landmarks shifted and scaled with the box (for the crop)."""
    x, y, w, h = face.box
    nx, ny, nw, nh = box
    landmarks = face.landmarks
    if landmarks is not None:
        scale = np.array([nw / w if w else 1.0, nh / h if h else 1.0], np.float32)
        landmarks = ((landmarks - np.array([x, y], np.float32)) * scale + np.array([nx, ny], np.float32)).astype(
            np.float32
        )
    return Face(box, face.score, landmarks)
