"""The subscriber's view: ``emotion-edge watch`` prints what devices publish, live.

Two outputs. The table (device, status, fps, face ids, emotion, score; one row per face): on a
terminal it is redrawn in place a few times a second; into a pipe or file, the rows of a device
are printed again whenever they change. With ``--json``, every message is one JSON line:
``{"device", "kind", "topic", "retained", "payload"}`` with the payload parsed (or as text).

It never dies on a message, whatever anyone publishes on the topics: a payload over
``MAX_PAYLOAD`` bytes or nested deeper than ``MAX_DEPTH`` is not parsed, control characters
(terminal escape sequences among them) are stripped from everything printed, and a message that
cannot be used is counted and its topic named on stderr, once per ``REPORT_S`` per topic.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from edge.mqtt.client.connection import Failure
from edge.mqtt.config import MqttConfig
from edge.mqtt.topics import parse, subscription
from edge.service.signals import stop_on_signals

REDRAW_S = 0.2  # terminal redraws per second are capped; a pipe gets every change
COLUMNS = ("DEVICE", "STATUS", "FPS", "FACE", "EMOTION", "SCORE")
WIDTHS = (20, 8, 6, 6, 10, 5)
MAX_PAYLOAD = 64 * 1024  # bytes; the device's largest message (faces, 8 faces) is under 3 KiB
MAX_DEPTH = 16  # nesting of JSON arrays and objects; the contract needs 4
MAX_CELL = 40  # characters of any one value shown in the table
REPORT_S = 10.0  # a topic with unusable messages is named at most this often
# C0 and C1 control characters (ESC, CSI, BEL, ...), DEL, and the Unicode bidirectional controls
# that can make a line read differently from what it holds.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object, limit: int | None = MAX_CELL) -> str:
    """``text`` without control characters, cut to ``limit`` characters: safe to print on a terminal."""
    out = CONTROL.sub("", str(text))
    return out if limit is None or len(out) <= limit else out[: limit - 1] + "…"


def clean_json(value: Any) -> Any:
    """Every string in a parsed payload (keys too) without control characters."""
    if isinstance(value, str):
        return clean(value, None)
    if isinstance(value, dict):
        return {clean(k, None): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when JSON ``text`` nests arrays and objects deeper than ``limit`` (checked before parsing,
    which would otherwise recurse once per level and can exhaust the stack)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


@dataclass
class DeviceView:
    status: str = "?"
    fps: float | None = None
    faces: list[tuple[int, str, float | None]] = field(default_factory=list)
    main_face: int | None = None
    emotion: str | None = None
    score: float | None = None

    def update(self, kind: str, payload: Any) -> None:
        if kind == "availability":
            self.status = str(payload)
        elif kind == "stats":
            fps = payload.get("fps")
            self.fps = float(fps) if isinstance(fps, (int, float)) else None
        elif kind == "emotion":
            self.emotion = str(payload.get("emotion", "?"))
            score = payload.get("score")
            self.score = float(score) if isinstance(score, (int, float)) else None
        elif kind == "faces":
            faces = payload.get("faces") or []
            self.faces = [
                (int(f["id"]), str(f.get("emotion", "?")), _float(f.get("score")))
                for f in faces
                if isinstance(f, dict) and isinstance(f.get("id"), int)
            ]
            main = payload.get("main_face")
            self.main_face = main if isinstance(main, int) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class WatchState:
    """What the table shows, built from the messages seen so far."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceView] = {}
        self.messages = 0
        self.invalid = 0

    def update(self, device: str, kind: str, payload: Any) -> bool:
        """Fold one decoded message in; False when it could not be used."""
        self.messages += 1
        if kind != "availability" and not isinstance(payload, dict):
            self.invalid += 1
            return False
        view = self.devices.setdefault(device, DeviceView())
        try:
            view.update(kind, payload)
        except (TypeError, ValueError, KeyError):
            self.invalid += 1
            return False
        return True

    def rows(self, device: str) -> list[tuple[str, ...]]:
        view = self.devices[device]
        fps = "-" if view.fps is None else f"{view.fps:.1f}"
        name, status = clean(device), clean(view.status)
        if not view.faces:
            return [(name, status, fps, "-", clean(view.emotion or "-"), _score(view.score))]
        return [
            (name, status, fps, f"{face_id}{'*' if face_id == view.main_face else ''}", clean(emotion), _score(score))
            for face_id, emotion, score in view.faces
        ]

    def table(self) -> str:
        lines = [format_row(COLUMNS)]
        for device in sorted(self.devices):
            lines.extend(format_row(r) for r in self.rows(device))
        footer = f"{len(self.devices)} device(s), {self.messages} message(s)"
        if self.invalid:
            footer += f", {self.invalid} unreadable"
        lines.append(f"{footer}; * main face; Ctrl-C to quit")
        return "\n".join(lines)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_row(cells: tuple[str, ...]) -> str:
    return "  ".join(
        cell.ljust(width) if i in (0, 1, 3, 4) else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, WIDTHS))
    ).rstrip()


class Unusable(ValueError):
    """A payload that is not parsed: too large or too deeply nested."""


def decode(kind: str, payload: bytes) -> tuple[Any, bool]:
    """The payload as JSON (availability as text); ``(text, False)`` when it is not what it should be.
    Raises ``Unusable`` for a payload over ``MAX_PAYLOAD`` bytes or nested over ``MAX_DEPTH``."""
    if len(payload) > MAX_PAYLOAD:
        raise Unusable(f"{len(payload)} bytes, over the {MAX_PAYLOAD} this tool reads")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("utf-8", errors="replace"), False
    if kind == "availability":
        return text, True
    if too_deep(text):
        raise Unusable(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text), True
    except (ValueError, RecursionError):
        return text, False


def watch_client_id() -> str:
    """Never the device's id (that would push the device off the broker): one per watch process."""
    return f"emotion-edge-watch-{socket.gethostname()}-{os.getpid()}"


class Printer:
    """Turns messages into output: JSON lines, table rows on change, or a table redrawn in place."""

    def __init__(self, out: TextIO, as_json: bool, interactive: bool, err: TextIO | None = None) -> None:
        self.out = out
        self.err = err if err is not None else sys.stderr
        self._rejected: dict[str, tuple[float, int]] = {}  # topic -> (last named at, not yet named)
        self.as_json = as_json
        self.interactive = interactive
        self.state = WatchState()
        self._printed: dict[str, list[tuple[str, ...]]] = {}
        self._header_written = False
        self._dirty = False
        self._drawn_at = 0.0

    def message(self, device: str, kind: str, topic: str, raw: bytes, retained: bool) -> None:
        """Print what one message says; never raises for what a message holds."""
        try:
            self._message(device, kind, topic, raw, retained)
        except (BrokenPipeError, KeyboardInterrupt):
            raise
        except Unusable as exc:
            self.reject(topic, str(exc))
        except Exception as exc:  # whatever a publisher sends, watch goes on
            self.reject(topic, f"{type(exc).__name__}: {exc}")

    def reject(self, topic: str, why: str) -> None:
        """Count an unusable message; name its topic once per ``REPORT_S`` (with how many were skipped)."""
        self.state.messages += 1
        self.state.invalid += 1
        now = time.monotonic()
        last, skipped = self._rejected.get(topic, (-REPORT_S, 0))
        if now - last < REPORT_S:
            self._rejected[topic] = (last, skipped + 1)
            return
        self._rejected[topic] = (now, 0)
        more = f" (and {skipped} more since)" if skipped else ""
        self.err.write(f"emotion-edge watch: ignored a message on {clean(topic, 200)}: {clean(why, 200)}{more}\n")
        self.err.flush()

    def _message(self, device: str, kind: str, topic: str, raw: bytes, retained: bool) -> None:
        payload, ok = decode(kind, raw)
        device, topic = clean(device, None), clean(topic, None)
        if self.as_json:
            line: dict[str, Any] = {"device": device, "kind": kind, "topic": topic, "retained": retained}
            line["payload"] = clean_json(payload)
            if not ok:
                line["error"] = "payload is not valid JSON" if kind != "availability" else "not UTF-8"
            self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.out.flush()
            return
        if not ok:
            self.reject(topic, "not valid JSON" if kind != "availability" else "not UTF-8")
            return
        if not self.state.update(device, kind, payload):
            self.reject(topic, f"not a {kind} payload")
            return
        if self.interactive:
            self._dirty = True
            return
        rows = self.state.rows(device)
        if rows == self._printed.get(device):
            return  # a re-sent retained state or an unchanged update: nothing new to read
        self._printed[device] = rows
        if not self._header_written:
            self.out.write(format_row(COLUMNS) + "\n")
            self._header_written = True
        self.out.writelines(format_row(row) + "\n" for row in rows)
        self.out.flush()

    def tick(self, final: bool = False) -> None:
        """Redraw the terminal table when something changed and the last redraw is old enough
        (or this is the last chance)."""
        if self.interactive and self._dirty and (final or time.monotonic() - self._drawn_at >= REDRAW_S):
            self.out.write("\x1b[H\x1b[2J" + self.state.table() + "\n")
            self.out.flush()
            self._dirty = False
            self._drawn_at = time.monotonic()


def run_watch(
    config: MqttConfig,
    device: str | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    count: int | None = None,
    interactive: bool | None = None,
) -> int:
    """Subscribe and print until interrupted (or ``count`` messages). Returns the exit status:
    0, or 2 on a failure that retrying cannot fix (bad credentials, an untrusted certificate)."""
    from edge.mqtt.client.link import Link  # paho is imported only when watching

    if interactive is None:
        interactive = out.isatty() and not as_json
    printer = Printer(out, as_json, interactive, err)
    inbox: queue.Queue[tuple[str, bytes, bool] | Failure] = queue.Queue()
    link = Link(
        config,
        watch_client_id(),
        subscriptions=[(subscription(config.base, device), 1)],
        on_message=lambda topic, payload, retained: inbox.put((topic, payload, retained)),
        on_failure=lambda failure: inbox.put(failure) if failure.permanent else None,
        name="mqtt-watch",
    )
    seen = 0
    stopping = threading.Event()
    link.start()
    try:
        with stop_on_signals(stopping.set):
            while (count is None or seen < count) and not stopping.is_set():
                try:
                    item = inbox.get(timeout=REDRAW_S)
                except queue.Empty:
                    item = None
                if isinstance(item, Failure):
                    print(f"emotion-edge watch: {item.message}", file=err)
                    return 2
                if item is not None:
                    topic, raw, retained = item
                    parsed = parse(config.base, topic)
                    if parsed is not None:
                        seen += 1
                        printer.message(*parsed, topic, raw, retained)
                printer.tick()
        printer.tick(final=True)
        return 0
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0  # the reader went away (`watch | head`): that is how it ends
    finally:
        link.stop(0.0)
