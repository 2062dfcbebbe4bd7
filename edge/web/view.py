"""The live view as the loop sees it: a result sink and a frame sink that owns the server and encoder.

It keeps the newest frame, faces, figures and the main face's emotion timeline for the page."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from edge.annotate import COLOURS, FALLBACK
from edge.jpeg_frame import Picture
from edge.mqtt.payloads import face_payload
from edge.results import FrameResult
from edge.web.config import Credentials, WebConfig
from edge.web.frames import LiveFrames

log = logging.getLogger(__name__)

TIMELINE_STEP_S = 0.5  # one timeline point per this many seconds (or sooner, on a change)
STALE_AFTER_S = 3.0  # no frame for this long: the page says so
NONE_AFTER_S = 1.0  # the timeline says "none" once no face was seen this long (a missed frame is no gap)


def without_secrets(uri: Any) -> Any:
    """A source URI without the user name and password an RTSP or HTTP camera URL may carry."""
    if not isinstance(uri, str) or "@" not in uri or "://" not in uri:
        return uri
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def rgb_hex(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


class WebView:
    """``handle_frame``/``handle_stats``/``close`` (a ``ResultSink``) and ``offer`` (a ``FrameSink``)."""

    def __init__(
        self,
        config: WebConfig,
        classes: Sequence[str] = (),
        describe: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.config = config
        self.classes = list(classes)
        self.describe = dict(describe or {})
        self.credentials = credentials if credentials is not None else config.credentials()
        self.frames = LiveFrames(config.max_fps, config.max_width, config.jpeg_quality)
        self.frames.max_viewers = config.max_viewers
        # Called (at most once a second) for the loop's live figures; set by whoever owns the loop.
        self.stats_source: Callable[[], dict[str, Any]] | None = None
        self._stats: dict[str, Any] = {}
        self._stats_at = 0.0
        self._stats_lock = threading.Lock()
        self._result: FrameResult | None = None
        self._result_at: float | None = None  # time.monotonic() of the newest result
        self._timeline: deque[tuple[float, str, float | None, int | None]] = deque(
            maxlen=int(config.timeline_s / TIMELINE_STEP_S) + 64
        )
        self._timeline_lock = threading.Lock()
        self._no_face_since: float | None = None
        self._started = time.monotonic()
        self.server: Any = None
        self.url = ""
        # A several-camera device: this view serves the first camera and the page, the others are
        # attached to it (``attach``) and chosen with ?camera=NAME.
        self.camera: str | None = None
        self.cameras: dict[str, WebView] = {}

    def attach(self, camera: str, other: WebView) -> None:
        """Serve ``other`` (another camera's view, never started itself) from this view's server."""
        if not self.cameras:
            self.cameras[self.camera or "default"] = self
        other.camera = camera
        other.cameras = self.cameras
        self.cameras[camera] = other

    def pick(self, camera: str | None) -> WebView:
        """The view of ``camera`` (None: this one); KeyError naming the cameras for another name."""
        if camera is None or camera == self.camera or (not self.cameras and camera == "default"):
            return self
        view = self.cameras.get(camera)
        if view is None:
            names = ", ".join(self.cameras) or (self.camera or "default")
            raise KeyError(f"no camera {camera[:40]!r} here; the cameras are: {names}")
        return view

    # --- life cycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Bind and serve (on threads of its own); returns the page's URL."""
        from edge.web.server import WebServer

        self.config.check_files()
        others = [v for v in self.cameras.values() if v is not self]
        for view in (self, *others):
            view.frames.start()
        try:
            self.server = WebServer(self.config, self, self.credentials).start()
        except BaseException:
            for view in (self, *others):
                view.frames.stop()
            raise
        self.url = self.server.url
        who = "anyone with the credentials" if self.credentials.required else "this machine only"
        log.info("live view at %s (%s; nothing is recorded)", self.url, who)
        return str(self.url)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            for view in self.cameras.values():
                if view is not self:
                    view.frames.stop()
        self.frames.stop()

    # --- the loop's side: both return at once ---------------------------------------------------

    def offer(self, image: Picture, result: FrameResult, fps: float = 0.0, annotated: bool = False) -> None:
        self.frames.offer(image, result, fps, annotated)

    def handle_frame(self, result: FrameResult) -> None:
        self._result = result
        self._result_at = time.monotonic()
        main = result.main_face
        if main is not None:
            self._no_face_since = None
        else:
            since = self._no_face_since = self._no_face_since or result.timestamp
            if result.timestamp - since < NONE_AFTER_S and self._timeline:
                return
        emotion = main.emotion if main is not None else "none"
        last = self._timeline[-1] if self._timeline else None
        if last is None or result.timestamp - last[0] >= TIMELINE_STEP_S or last[1] != emotion:
            point = (
                round(result.timestamp, 3),
                emotion,
                round(main.score, 3) if main is not None else None,
                main.face_id if main is not None else None,
            )
            with self._timeline_lock:
                self._timeline.append(point)

    def handle_stats(self, stats: dict[str, Any]) -> None:
        self._stats = stats

    # --- the page's side ----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The loop's figures, fetched at most once a second."""
        with self._stats_lock:
            now = time.monotonic()
            if self.stats_source is not None and now - self._stats_at >= 1.0:
                try:
                    self._stats = self.stats_source()
                except Exception:  # a figure the loop was changing as we read it: next time
                    log.debug("stats for the live view failed", exc_info=True)
                self._stats_at = now
            return self._stats

    def health(self) -> dict[str, Any]:
        now = time.monotonic()
        stats = self._stats
        reasons: list[str] = []
        if self._result_at is None:
            state = "starting"
            reasons.append("waiting for the first frame")
        elif now - self._result_at > STALE_AFTER_S:
            state = "stalled"
            reasons.append(f"no frame for {now - self._result_at:.0f} s")
        else:
            state = "ok"
        for key, what in (("frame_errors", "frames failed"), ("sink_errors", "sink errors")):
            if stats.get(key):
                reasons.append(f"{stats[key]} {what}")
        if stats.get("error"):
            reasons.append(str(stats["error"]))
        return {"state": state, "reasons": reasons}

    def state(self, since: float = 0.0) -> dict[str, Any]:
        """What the page polls: JSON-ready; the timeline holds only points after ``since``."""
        stats = self.stats()
        result = self._result
        with self._timeline_lock:
            points = [list(p) for p in self._timeline if p[0] > since]
        classes = self.classes or (list(result.faces[0].scores) if result and result.faces else [])
        latency = {k: {"p50": v.get("p50"), "p99": v.get("p99")} for k, v in stats.get("latency_ms", {}).items()}
        return {
            "v": 1,
            "now": round(time.time(), 3),
            "camera": self.camera,
            "cameras": list(self.cameras),
            "device": {
                **{k: stats.get(k, self.describe.get(k)) for k in ("model", "backend", "detector")},
                "source": without_secrets(stats.get("source", self.describe.get("source"))),
            },
            "classes": classes,
            "colours": {name: rgb_hex(COLOURS.get(name, FALLBACK)) for name in classes},
            "health": self.health(),
            "stats": {
                "fps": stats.get("fps"),
                "frames": stats.get("frames"),
                "faces_per_frame": stats.get("faces_per_frame"),
                # What the frames cost: detector and classifier runs, frames the motion gate spared.
                "detections_per_s": stats.get("detections_per_s"),
                "classifications_per_s": stats.get("classifications_per_s"),
                "frames_gated": stats.get("frames_gated"),
                "dropped_frames": stats.get("dropped_frames"),
                "uptime_s": round(time.monotonic() - self._started, 1),
                "peak_rss_mb": stats.get("peak_rss_mb"),
                "latency_ms": latency,
            },
            "frame": None
            if result is None
            else {
                "index": result.frame_index,
                "ts": round(result.timestamp, 3),
                "width": result.width,
                "height": result.height,
                "latency_ms": round(result.latency_ms, 2),
                "main_face": result.main_face.face_id if result.main_face else None,
            },
            "faces": [face_payload(f) for f in result.faces] if result is not None else [],
            "timeline": {"span_s": self.config.timeline_s, "points": points},
            "stream": self.frames.counters(),
        }
