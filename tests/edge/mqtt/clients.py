"""Test-side helpers: a real subscriber client, synthetic frames, schema checks."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.mqtt.schemas import load_schema
from edge.results import FaceResult, FrameResult

CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() on arrival
    qos: int = 0

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A real MQTT client that records everything it receives on ``topics`` and reconnects by itself."""

    def __init__(
        self,
        port: int,
        topics: tuple[str, ...] = ("#",),
        host: str = "127.0.0.1",
        ca_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "",
    ) -> None:
        self.port = port
        self.host = host
        self.topics = topics
        self.received: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.reconnect_delay_set(1, 1)
        if ca_file is not None:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> Subscriber:
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"subscriber could not subscribe on port {self.port}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 2) for t in self.topics])  # QoS 2: what arrives shows the publisher's QoS

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic(), msg.qos))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.topic == topic]

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 10.0, start: int = 0, what: str = ""
    ) -> Received:
        """The first message from index ``start`` on that satisfies ``predicate``."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.received[start:]:
                    if predicate(r):
                        return r
                left = end - time.monotonic()
                if left <= 0:
                    seen = [(r.topic, r.payload[:80]) for r in self.received[-10:]]
                    raise AssertionError(f"no message {what} within {timeout} s; last ones: {seen}")
                self._cond.wait(left)

    def wait_topic(self, topic: str, text: str | None = None, timeout: float = 10.0, start: int = 0) -> Received:
        return self.wait_for(
            lambda r: r.topic == topic and (text is None or r.text == text),
            timeout,
            start,
            what=f"on {topic}" + (f" saying {text!r}" if text is not None else ""),
        )

    def mark(self) -> int:
        with self._cond:
            return len(self.received)

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)


def face(face_id: int, emotion: str = "happy", score: float = 0.8, size: int = 100) -> FaceResult:
    rest = (1.0 - score) / (len(CLASSES) - 1)
    scores = {c: (score if c == emotion else rest) for c in CLASSES}
    return FaceResult(face_id, (10 * face_id, 20, size, size), emotion, score, scores, dict(scores))


def frame(index: int, *faces: FaceResult) -> FrameResult:
    return FrameResult(index, time.time(), 640, 480, tuple(faces), latency_ms=12.5)


def validate(kind: str, instance: Any) -> None:
    """Raise if ``instance`` (a decoded payload) breaks the contract's schema for ``kind``."""
    schema = load_schema(kind)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)
