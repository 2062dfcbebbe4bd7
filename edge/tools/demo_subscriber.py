"""The demo's subscriber: the project's own MQTT link, printing what a subscriber of the device receives.

The first message of each kind is shown in full (so the JSON contract is on screen), the rest as
one line each; everything is also written, one JSON object a line, to a file to look at later.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edge.mqtt.topics import OFFLINE, ha_configs, parse, subscription

if TYPE_CHECKING:
    from edge.mqtt.client.connection import Failure
    from edge.mqtt.config import MqttConfig


def summarise(kind: str, payload: Any) -> str:
    """One line for one message of the contract (``kind``: availability, faces, emotion, presence, stats,
    discovery)."""
    if kind == "availability":
        return str(payload)
    if not isinstance(payload, dict):
        return str(payload)[:100]
    if kind == "faces":
        faces = payload.get("faces") or []
        if not faces:
            return f"frame {payload.get('frame')}: no face in view"
        shown = ", ".join(f"#{f.get('id')} {f.get('emotion')} {f.get('score', 0):.2f}" for f in faces)
        return f"frame {payload.get('frame')}: {shown}"
    if kind == "emotion":
        if payload.get("emotion") == "none":
            return "none (no face in view)"
        return f"{payload.get('emotion')} {payload.get('score', 0):.2f} (face #{payload.get('face_id')})"
    if kind == "stats":
        fps = payload.get("fps")
        model = payload.get("model") or {}
        return (
            f"{fps if fps is not None else '-'} fps, {payload.get('frames')} frames, "
            f"{payload.get('faces')} face(s) now, {payload.get('backend')}, "
            f"model {model.get('name')} {model.get('version')}"
        )
    if kind == "presence":
        who = "occupied" if payload.get("occupied") else "nobody"
        score = payload.get("score")
        emotion = f"{payload.get('emotion')} {score:.2f}" if isinstance(score, (int, float)) else payload.get("emotion")
        return f"{payload.get('faces')} face(s), {who}, {emotion} at {payload.get('time')}"
    if kind == "discovery":
        return f"Home Assistant discovery: {payload.get('name', '?')!r}"
    return json.dumps(payload)[:100]


def full_payload(payload: Any, width: int = 100, max_lines: int = 6) -> str:
    """The payload's JSON, indented and wrapped; cut after ``max_lines`` lines."""
    lines = textwrap.wrap(json.dumps(payload), width)
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], "..."]
    return "\n".join("      " + line for line in lines)


class DemoSubscriber:
    """Subscribes, on the project's own MQTT link (``edge.mqtt.client.link``, as ``watch`` does), to
    one device's topics and its Home Assistant discovery configs, and prints what arrives."""

    def __init__(self, config: MqttConfig, out: TextIO, record: Path | None) -> None:
        from edge.mqtt.client.link import Link  # paho is imported only when the demo runs

        self.base = config.base
        self.device_id = config.resolved_device_id
        self.prefix = config.discovery.prefix
        self.out = out
        self.counts: Counter[str] = Counter()
        self.last: dict[str, Any] = {}
        self._shown: set[str] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._offline = threading.Event()
        self._failure: Failure | None = None
        self._record = record.open("w", encoding="utf-8") if record is not None else None
        self._where = f"{config.host}:{config.resolved_port}"
        self._link = Link(
            config,
            f"emotion-edge-demo-viewer-{time.time_ns()}",
            subscriptions=[(subscription(self.base, self.device_id), 1), (ha_configs(self.prefix, self.device_id), 1)],
            on_connected=self._connected.set,
            on_message=self._on_message,
            on_failure=self._on_failure,
            name="mqtt-demo-viewer",
        )

    def start(self, timeout_s: float = 10.0) -> DemoSubscriber:
        self._link.start()
        if not self._connected.wait(timeout_s):
            self.stop()
            why = f": {self._failure.message}" if self._failure is not None else ""
            raise RuntimeError(f"the demo's subscriber could not connect to {self._where}{why}")
        return self

    def wait_offline(self, timeout_s: float) -> bool:
        return self._offline.wait(timeout_s)

    def stop(self) -> None:
        self._link.stop(0.0)
        with self._lock:
            if self._record is not None:
                self._record.close()
                self._record = None

    def _on_failure(self, failure: Failure) -> None:
        self._failure = failure

    def _on_message(self, topic: str, raw: bytes, retained: bool) -> None:
        text = raw.decode("utf-8", "replace")
        parsed = parse(self.base, topic)
        kind = parsed[1] if parsed is not None else "discovery"
        payload: Any = text
        if kind != "availability":
            with contextlib.suppress(json.JSONDecodeError):  # a foreign message stays text
                payload = json.loads(text)
        with self._lock:
            self.counts[kind] += 1
            self.last[kind] = payload
            note = " (retained)" if retained else ""
            print(f"  subscriber <- {topic}{note}: {summarise(kind, payload)}", file=self.out)
            if kind not in self._shown and kind not in ("availability", "discovery"):
                self._shown.add(kind)  # the first of each kind in full: the contract, on screen
                print(full_payload(payload), file=self.out)
            self.out.flush()
            if self._record is not None:
                entry = {"topic": topic, "retained": retained, "payload": payload}
                self._record.write(json.dumps(entry) + "\n")
        if kind == "availability" and text == OFFLINE:
            self._offline.set()
