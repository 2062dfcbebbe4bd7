"""The frame loop's MQTT sink: turns frames and stats into the contract's messages.

``MqttPublisher`` implements ``edge.results.ResultSink``. ``handle_frame`` and ``handle_stats``
decide (``edge.mqtt.policy``), encode (``edge.mqtt.payloads``) and queue (``edge.mqtt.outbox``);
they never touch the network and never raise into the loop: a frame that cannot be encoded is
counted and logged. Call them from one thread (the frame loop's); ``close`` may come from another.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge.cameras.figures import device_figures
from edge.mqtt.client.connection import Failure
from edge.mqtt.client.link import Link
from edge.mqtt.config import MqttConfig
from edge.mqtt.discovery import DeviceInfo, discovery_messages
from edge.mqtt.outbox import Message, Outbox
from edge.mqtt.payloads import emotion_payload, encode, faces_payload, presence_payload, stats_payload
from edge.mqtt.policy import NONE_EMOTION, FacesThrottle, Interval, MainEmotion, PresenceThrottle
from edge.mqtt.topics import OFFLINE, ONLINE, Topics, ha_status
from edge.results import FrameResult

log = logging.getLogger("edge.mqtt")

ERROR_LOG_S = 60.0  # a repeating encoding error is logged at most this often


class MqttPublisher:
    def __init__(
        self,
        config: MqttConfig,
        model_name: str,
        model_version: str,
        backend: str,
        classes: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        device: DeviceInfo | None = None,
        cameras: Sequence[str] = (),
    ) -> None:
        """``device``: the hardware and live-view address Home Assistant's device page shows
        (default: this machine's board, no address). ``cameras``: the names of a several-camera
        device; each gets its stream under ``<base>/<device_id>/<camera>/`` (``camera(name)`` is its
        sink) and one connection, availability and stats serve them all. None: one camera on the
        device's own topics, the publisher itself its sink."""
        self.config = config
        self.model_name = model_name
        self.model_version = model_version
        self.backend = backend
        self.classes = list(classes)
        self.topics = Topics(config.base, config.resolved_device_id)
        self._clock = clock
        self._wall = wall_clock
        self._started = clock()
        rate, qos = config.rate, config.qos
        self._stats = Interval(rate.stats_interval_s)
        self._last_stats: Message | None = None
        self._outbox = Outbox(config.queue_size)
        self._lock = threading.Lock()  # several cameras' loops report from their own threads
        self._camera_stats: dict[str, Mapping[str, Any]] = {}
        self._unencodable = 0
        self._unencodable_reported = 0  # as of the last stats report
        self._last_error = ""
        self._error_logged_at = -ERROR_LOG_S
        self._closed = False
        self._close_lock = threading.Lock()

        # The retained state starts with "online", then the discovery configs: on every connect
        # they go out in this order, before any stream message.
        self._outbox.put(Message(self.topics.availability, ONLINE.encode(), qos.availability, retain=True))
        subscriptions: list[tuple[str, int]] = []
        if config.discovery.enabled:
            for message in discovery_messages(
                config.discovery.prefix, self.topics, model_name, model_version, self.classes, qos.discovery, device,
                cameras=list(cameras),
            ):  # fmt: skip
                self._outbox.put(message)
            subscriptions.append((ha_status(config.discovery.prefix), 1))
        self.cameras = list(cameras)
        self._streams = {name: _Stream(self, self.topics.for_camera(name)) for name in cameras}
        self._own = _Stream(self, self.topics) if not cameras else None
        self._link = Link(
            config,
            config.resolved_client_id,
            outbox=self._outbox,
            will=Message(self.topics.availability, OFFLINE.encode(), qos.availability, retain=True),
            subscriptions=subscriptions,
            on_connected=self._on_connected,
            on_message=self._on_message,
            name="mqtt-publisher",
        )

    # --- ResultSink ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; returns at once, whether or not the broker is up."""
        self._link.start()
        log.info(
            "MQTT: publishing to %s:%d under %s/ (QoS faces %d, emotion %d, stats %d)",
            self.config.host,
            self.config.resolved_port,
            self.topics.root,
            self.config.qos.faces,
            self.config.qos.emotion,
            self.config.qos.stats,
        )

    def handle_frame(self, result: FrameResult) -> None:
        if self._own is not None:
            self._own.handle_frame(result)

    def handle_idle(self) -> None:
        """No frame was processed just now (the camera is away, frames fail). After
        ``emotion_none_after_s`` without a processed frame the emotion goes to ``none`` and the
        stats' ``faces`` to 0: nothing stale is left standing, the previous run's emotion included."""
        if self._own is not None:
            self._own.handle_idle()

    def handle_stats(self, stats: dict[str, Any]) -> None:
        if self._closed or self._own is None:
            return
        now = self._clock()
        with self._lock:
            if not self._stats.due(now):
                return
            self._publish_stats(now, stats if isinstance(stats, Mapping) else {}, self._own.latest_faces)

    def camera(self, name: str) -> CameraSink:
        """The sink of one camera of a several-camera device (its loop's frames, idles and stats)."""
        return CameraSink(self, name)

    def _camera_report(self, name: str, stats: Mapping[str, Any]) -> None:
        """One camera's loop reported: the device's stats go out when due, with every camera's latest."""
        if self._closed:
            return
        now = self._clock()
        with self._lock:
            self._camera_stats[name] = stats
            if not self._stats.due(now):
                return
            figures = device_figures(
                {
                    n: self._camera_stats.get(n, {"state": "degraded", "reasons": ["no report yet"]})
                    for n in self.cameras
                }
            )
            self._publish_stats(now, figures, sum(s.latest_faces for s in self._streams.values()))

    def _publish_stats(self, now: float, loop: Mapping[str, Any], faces: int) -> None:
        try:
            payload = stats_payload(
                self._with_own_health(loop),
                ts=self._wall(),
                uptime_s=now - self._started,
                faces=faces,
                backend=self.backend,
                model_name=self.model_name,
                model_version=self.model_version,
                mqtt=self.figures(),
            )
            if isinstance(loop.get("cameras"), Mapping):
                payload["cameras"] = loop["cameras"]
            message = Message(self.topics.stats, encode(payload), self.config.qos.stats, retain=False)
            self._last_stats = message  # Home Assistant's birth message gets the latest figures again
            self._outbox.put(message)
            self._unencodable_reported = self._unencodable
        except (ValueError, TypeError) as exc:
            self._count_error("stats", exc)

    def _with_own_health(self, loop: Mapping[str, Any]) -> Mapping[str, Any]:
        """The loop's figures, ``degraded`` with the reason when messages were dropped as unencodable
        since the last report: the loop cannot know, and "ok" while nothing goes out would be a lie."""
        dropped = self._unencodable - self._unencodable_reported
        if not dropped:
            return loop
        raw = loop.get("reasons")
        why = (
            f"MQTT: {dropped} message(s) dropped since the last report: they could not be encoded ({self._last_error})"
        )
        reasons = [*(raw if isinstance(raw, (list, tuple)) else []), why]
        state = "failed" if loop.get("state") == "failed" else "degraded"
        return {**loop, "state": state, "reasons": reasons}

    def close(self) -> None:
        """Publish ``offline``, send what is queued for up to ``flush_timeout_s``, disconnect."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._outbox.put(Message(self.topics.availability, OFFLINE.encode(), self.config.qos.availability, retain=True))
        self._link.stop(self.config.flush_timeout_s)

    # --- what the publisher knows about itself -------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def running(self) -> bool:
        """True while the network thread runs (it survives any broker trouble until ``close``)."""
        return self._link.running

    @property
    def last_failure(self) -> Failure | None:
        return self._link.last_failure

    def figures(self) -> dict[str, Any]:
        """Message counts for the stats payload: ``dropped.total`` is every message that will never
        be sent; ``superseded`` retained values were replaced by newer ones before going out."""
        box = self._outbox.counts()
        link = self._link.counts()
        dropped = {
            "overflow": box.overflow,
            "lost": link.lost,
            "rejected": link.rejected,
            "invalid": link.invalid + self._unencodable,
        }
        return {
            "connected": link.connected,
            "connects": link.connects,
            "disconnects": link.disconnects,
            "sent": link.sent,
            "queued": box.depth,
            "queue_capacity": box.capacity,
            "state_pending": box.pending_state,
            "in_flight": link.in_flight,
            "superseded": box.superseded,
            "dropped": {**dropped, "total": sum(dropped.values())},
        }

    # --- internals -----------------------------------------------------------------------------

    def _put(self, topic: str, payload: Mapping[str, Any], qos: int, retain: bool) -> None:
        self._outbox.put(Message(topic, encode(payload), qos, retain))

    def _count_error(self, what: str, exc: Exception) -> None:
        self._unencodable += 1
        self._last_error = f"{what}: {' '.join(str(exc).split())[:200]}"
        now = self._clock()
        if now - self._error_logged_at >= ERROR_LOG_S:
            self._error_logged_at = now
            log.error(
                "MQTT: cannot encode %s (%s); message dropped (%d so far, counted in stats)",
                what,
                exc,
                self._unencodable,
            )

    def _on_connected(self) -> None:
        # A restarted broker may have lost our retained state, and our last will may have replaced
        # "online": send the whole state again on every connect.
        self._outbox.resend_state()

    def _on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        if topic == ha_status(self.config.discovery.prefix) and payload.strip() == ONLINE.encode():
            log.info("MQTT: Home Assistant announced itself; sending discovery, state and the latest stats again")
            self._outbox.resend_state()
            stats = self._last_stats
            if stats is not None:
                self._outbox.put(stats)


class _Stream:
    """One camera's faces, emotion and presence, on its topics (the device's own for one camera)."""

    def __init__(self, publisher: MqttPublisher, topics: Topics) -> None:
        self.p = publisher
        self.topics = topics
        rate, qos = publisher.config.rate, publisher.config.qos
        self._faces = FacesThrottle(rate.faces_interval_ms / 1000.0, rate.faces_min_interval_ms / 1000.0)
        self._emotion = MainEmotion(rate.emotion_none_after_s, start=publisher._started)
        self._presence = PresenceThrottle(rate.presence_interval_s, rate.faces_min_interval_ms / 1000.0)
        self.latest_faces = 0
        self._last_frame_at = publisher._started
        # Presence is state, so it is there from the start: an empty room reads 0 faces at once, even
        # where the broker still holds the count of an earlier run.
        publisher._put(
            topics.presence, presence_payload(publisher._wall(), 0, False, NONE_EMOTION, None), qos.presence, True
        )
        self._presence.sent(-math.inf, (0, False, NONE_EMOTION), ())

    def handle_frame(self, result: FrameResult) -> None:
        p = self.p
        if p._closed:
            return
        now = p._clock()
        try:
            self.latest_faces = len(result.faces)
            self._last_frame_at = now
            faces = {f.face_id: f.emotion for f in result.faces}
            if self._faces.due(now, faces):
                p._put(self.topics.faces, faces_payload(result), p.config.qos.faces, retain=False)
                self._faces.sent(now, faces)
            main = result.main_face
            emotion = self._emotion.update(now, main.emotion if main is not None else None)
            if emotion is not None:
                payload = emotion_payload(result.timestamp, emotion, main)
                p._put(self.topics.emotion, payload, p.config.qos.emotion, retain=True)
                self._emotion.sent(emotion)
            self._update_presence(now, result)
        except (ValueError, TypeError, AttributeError) as exc:
            p._count_error(f"frame {getattr(result, 'frame_index', '?')}", exc)

    def handle_idle(self) -> None:
        p = self.p
        if p._closed:
            return
        now = p._clock()
        if now - self._last_frame_at < p.config.rate.emotion_none_after_s:
            return
        self.latest_faces = 0
        emotion = self._emotion.update(now, None)
        if emotion is not None:
            try:
                p._put(self.topics.emotion, emotion_payload(p._wall(), emotion, None), p.config.qos.emotion, True)
            except (ValueError, TypeError) as exc:
                p._count_error("emotion", exc)
                return
            self._emotion.sent(emotion)

    def _update_presence(self, now: float, result: FrameResult) -> None:
        """The retained presence state: on a change of the face count, the occupancy or the
        emotion, and while a face is in view at most every ``presence_interval_s``. Occupancy
        follows the emotion topic's hold: it ends when the emotion becomes ``none``."""
        emotion = self._emotion.current or NONE_EMOTION
        occupied = bool(result.faces) or emotion != NONE_EMOTION
        main = result.main_face if result.faces else None
        key = (len(result.faces), occupied, emotion)
        detail = (round(float(main.score), 2), int(main.face_id)) if main is not None else None
        if self._presence.due(now, key, detail or ()):
            payload = presence_payload(result.timestamp, len(result.faces), occupied, emotion, main)
            self.p._put(self.topics.presence, payload, self.p.config.qos.presence, retain=True)
            self._presence.sent(now, key, detail or ())


class CameraSink:
    """The ``ResultSink`` of one camera of a several-camera device: its loop's frames go to the
    camera's stream, its stats into the device's report. Closing it closes nothing: the device's
    publisher is closed once, after every camera's loop."""

    def __init__(self, publisher: MqttPublisher, name: str) -> None:
        self.publisher, self.name = publisher, name
        self._stream = publisher._streams[name]

    def handle_frame(self, result: FrameResult) -> None:
        self._stream.handle_frame(result)

    def handle_idle(self) -> None:
        self._stream.handle_idle()

    def handle_stats(self, stats: dict[str, Any]) -> None:
        self.publisher._camera_report(self.name, stats if isinstance(stats, Mapping) else {})

    def close(self) -> None:
        return None
