"""When to publish: plain state machines fed with a monotonic ``now``, so they are exact to test.

The publisher sees every frame; these decide which frames become messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

NONE_EMOTION = "none"


class FacesThrottle:
    """Rate limit of the ``faces`` topic.

    A *change* (a face appears or leaves, or any face's emotion changes) is published at once,
    but never sooner than ``min_interval_s`` after the previous message; a change that has to wait
    is still a change on the next frame, so it is published as soon as that limit allows. Without
    a change, frames with faces are published at most every ``interval_s``. When the last face
    leaves, one message with no faces says so; frames without faces are not published after that.
    """

    def __init__(self, interval_s: float, min_interval_s: float) -> None:
        self.interval_s = interval_s
        self.min_interval_s = min_interval_s
        self._published: dict[int, str] = {}
        self._last_at = -math.inf

    def due(self, now: float, faces: Mapping[int, str]) -> bool:
        """``faces`` maps face id to smoothed emotion for this frame; True means publish it (then
        call ``sent``, so that a message that could not be built is not taken as published)."""
        since = now - self._last_at
        if dict(faces) != self._published:
            return since >= self.min_interval_s
        return bool(faces) and since >= self.interval_s

    def sent(self, now: float, faces: Mapping[int, str]) -> None:
        self._published = dict(faces)
        self._last_at = now


class MainEmotion:
    """The ``emotion`` topic: the main face's smoothed emotion, on change, and ``none`` once no
    face has been seen for ``none_after_s`` (counted from ``start`` before the first face)."""

    def __init__(self, none_after_s: float, start: float) -> None:
        self.none_after_s = none_after_s
        self._last_seen = start
        self._current: str | None = None

    @property
    def current(self) -> str | None:
        return self._current

    def update(self, now: float, emotion: str | None) -> str | None:
        """``emotion`` of the main face in this frame (None: no face). Returns the value to
        publish (then call ``sent``), or None when nothing changed."""
        if emotion is not None:
            self._last_seen = now
            new = emotion
        elif now - self._last_seen >= self.none_after_s:
            new = NONE_EMOTION
        else:
            return None
        return None if new == self._current else new

    def sent(self, emotion: str) -> None:
        self._current = emotion


class Interval:
    """At most one event per ``interval_s``. A caller that reports on the same period is never
    skipped for a little jitter: an event a tenth of the interval early (at most 1 s) counts."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._slack = min(0.1 * interval_s, 1.0)
        self._last_at = -math.inf

    def due(self, now: float) -> bool:
        if now - self._last_at >= self.interval_s - self._slack:
            self._last_at = now
            return True
        return False


class PresenceThrottle:
    """The retained ``presence`` topic: what Home Assistant shows (face count, occupancy, the main
    face's emotion with its score and id).

    A change of the face count, the occupancy or the emotion is published at once, but never sooner
    than ``min_interval_s`` after the previous message (a change that has to wait goes out as soon as
    that allows). Otherwise, while a face is in view and its score or id moved, at most every
    ``interval_s``, so the attributes people read are never older than that.
    """

    def __init__(self, interval_s: float, min_interval_s: float) -> None:
        self.interval_s = interval_s
        self.min_interval_s = min_interval_s
        self._key: tuple[object, ...] | None = None
        self._detail: tuple[object, ...] | None = None
        self._last_at = -math.inf

    def due(self, now: float, key: tuple[object, ...], detail: tuple[object, ...]) -> bool:
        """``key``: what counts as a change (faces, occupied, emotion); ``detail``: what is
        refreshed at the slower rate (score, face id). True means publish (then call ``sent``)."""
        since = now - self._last_at
        if key != self._key:
            return since >= self.min_interval_s
        return detail != self._detail and since >= self.interval_s

    def sent(self, now: float, key: tuple[object, ...], detail: tuple[object, ...]) -> None:
        self._key, self._detail = key, detail
        self._last_at = now
