"""The demo's subscriber: a real MQTT client that prints what a subscriber of the device receives.

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
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.mqtt.topics import OFFLINE, parse


def summarise(kind: str, payload: Any) -> str:
    """One line for one message of the contract (``kind``: availability, faces, emotion, stats, discovery)."""
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
    if kind == "discovery":
        return f"Home Assistant discovery: sensor {payload.get('name', '?')!r}"
    return json.dumps(payload)[:100]


def full_payload(payload: Any, width: int = 100, max_lines: int = 6) -> str:
    """The payload's JSON, indented and wrapped; cut after ``max_lines`` lines."""
    lines = textwrap.wrap(json.dumps(payload), width)
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], "..."]
    return "\n".join("      " + line for line in lines)


class DemoSubscriber:
    def __init__(self, host: str, port: int, base: str, device_id: str, out: TextIO, record: Path | None) -> None:
        self.base = base
        self.device_id = device_id
        self.out = out
        self.counts: Counter[str] = Counter()
        self.last: dict[str, Any] = {}
        self._shown: set[str] = set()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._offline = threading.Event()
        self._record = record.open("w", encoding="utf-8") if record is not None else None
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"emotion-edge-demo-viewer-{time.time_ns()}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self, timeout_s: float = 10.0) -> DemoSubscriber:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"the demo's subscriber could not subscribe at {self._host}:{self._port}")
        return self

    def wait_offline(self, timeout_s: float) -> bool:
        return self._offline.wait(timeout_s)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        if self._record is not None:
            self._record.close()
            self._record = None

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(f"{self.base}/{self.device_id}/+", 1), ("homeassistant/+/+/+/config", 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        text = bytes(message.payload).decode("utf-8", "replace")
        parsed = parse(self.base, message.topic)
        kind = parsed[1] if parsed is not None else "discovery"
        payload: Any = text
        if kind != "availability":
            with contextlib.suppress(json.JSONDecodeError):  # a foreign message stays text
                payload = json.loads(text)
        with self._lock:
            self.counts[kind] += 1
            self.last[kind] = payload
            retained = " (retained)" if message.retain else ""
            print(f"  subscriber <- {message.topic}{retained}: {summarise(kind, payload)}", file=self.out)
            if kind not in self._shown and kind not in ("availability", "discovery"):
                self._shown.add(kind)  # the first of each kind in full: the contract, on screen
                print(full_payload(payload), file=self.out)
            self.out.flush()
            if self._record is not None:
                entry = {"topic": message.topic, "retained": bool(message.retain), "payload": payload}
                self._record.write(json.dumps(entry) + "\n")
        if kind == "availability" and text == OFFLINE:
            self._offline.set()
