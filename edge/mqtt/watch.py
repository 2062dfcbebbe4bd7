"""The subscriber's view: ``emotion-edge watch`` prints what devices publish, live.

Two outputs. The table (device, status, fps, face ids, emotion, score; one row per face): on a
terminal it is redrawn in place a few times a second; into a pipe or file, the rows of a device
are printed again whenever they change. With ``--json``, every message is one line of strict JSON:
``{"device", "kind", "topic", "retained", "payload"}`` with the payload parsed (or as text).

It never dies on a message, whatever anyone publishes on the topics: payloads are read with the
limits and cleaning of ``edge.mqtt.untrusted`` (shared with ``mqtt devices``), every cell is cut to
its column, the table shows at most ``MAX_DEVICES`` devices and ``MAX_FACES`` faces per device
(saying how many were left out), and a message that cannot be used is counted and its topic named
on stderr, once per ``REPORT_S`` per topic. An offline device shows no figures: its last fps and
emotion would read as current.
"""

from __future__ import annotations

import math
import os
import queue
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from edge.mqtt.client.connection import Failure
from edge.mqtt.config import MqttConfig
from edge.mqtt.topics import camera_subscription, parse, subscription
from edge.mqtt.untrusted import (
    MAX_CELL,
    MAX_DEPTH,
    MAX_PAYLOAD,
    Unusable,
    check_size,
    clean,
    clean_json,
    dumps,
    parse_text,
    too_deep,
)
from edge.service.signals import stop_on_signals

__all__ = ["MAX_DEPTH", "MAX_PAYLOAD", "WatchState", "clean", "decode", "format_row", "run_watch", "too_deep"]

REDRAW_S = 0.2  # terminal redraws per second are capped; a pipe gets every change
COLUMNS = ("DEVICE", "STATUS", "FPS", "FACE", "EMOTION", "SCORE")
WIDTHS = (20, 8, 6, 6, 10, 5)
# The most characters a cell may take: names and emotions up to MAX_CELL, figures their column.
LIMITS = (MAX_CELL, 8, 6, 6, MAX_CELL, 5)
# A table is for reading: past these, rows are left out and the footer says how many. 256 devices
# is more than one site runs; for more, --device or --json (which has no cap: it keeps no state).
MAX_DEVICES = 256
MAX_FACES = 16  # rows per device; the device itself sends at most detector.max_faces (default 8)
LEFT_OUT_KEPT = 100_000  # left-out devices counted (by the hash of their name, a few MB at most)
REPORT_S = 10.0  # a topic with unusable messages is named at most this often
WAITING_S = 10.0  # while the broker cannot be reached, watch says so this often


def _number(value: Any, low: float, high: float) -> float | None:
    """A figure within its sensible range, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


@dataclass
class DeviceView:
    status: str = "?"
    fps: float | None = None
    faces: list[tuple[int, str, float | None]] = field(default_factory=list)
    more_faces: int = 0  # faces in the last message beyond MAX_FACES
    main_face: int | None = None
    emotion: str | None = None
    score: float | None = None

    @property
    def offline(self) -> bool:
        return self.status == "offline"

    def update(self, kind: str, payload: Any) -> None:
        if kind == "availability":
            self.status = clean(str(payload).strip(), LIMITS[1])
            if self.offline:  # what it said last is not what it says now: it says nothing
                self.fps, self.faces, self.more_faces, self.main_face = None, [], 0, None
                self.emotion, self.score = None, None
        elif kind == "stats":
            self.fps = _number(payload.get("fps"), 0.0, 1e4)
        elif kind == "emotion":
            self.emotion = clean(payload.get("emotion", "?"))
            self.score = _number(payload.get("score"), 0.0, 1.0)
        elif kind == "faces":
            faces = payload.get("faces") or []
            if not isinstance(faces, list):
                raise TypeError("faces is not a list")
            kept = [
                (f["id"], clean(f.get("emotion", "?")), _number(f.get("score"), 0.0, 1.0))
                for f in faces
                if isinstance(f, dict) and isinstance(f.get("id"), int) and not isinstance(f.get("id"), bool)
            ]
            self.faces, self.more_faces = kept[:MAX_FACES], max(0, len(kept) - MAX_FACES)
            main = payload.get("main_face")
            self.main_face = main if isinstance(main, int) and not isinstance(main, bool) else None


class WatchState:
    """What the table shows, built from the messages seen so far (at most ``MAX_DEVICES`` devices)."""

    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self.devices: dict[str, DeviceView] = {}
        self.max_devices = max_devices
        self.left_out: set[int] = set()  # hashes of the devices past the cap, up to LEFT_OUT_KEPT
        self.messages = 0
        self.invalid = 0

    def update(self, device: str, kind: str, payload: Any) -> bool:
        """Fold one decoded message in; False when it could not be used. A device past the cap is
        counted in ``left_out``, not shown."""
        self.messages += 1
        if kind != "availability" and not isinstance(payload, dict):
            self.invalid += 1
            return False
        view = self._view(device)
        if view is None:
            return True
        try:
            view.update(kind, payload)
            if "/" not in device:
                self._to_cameras(device, kind, payload)
        except (TypeError, ValueError, KeyError, AttributeError):
            self.invalid += 1
            return False
        return True

    def _view(self, key: str) -> DeviceView | None:
        """The row of a device or of a device's camera (``device/camera``); None past the cap."""
        view = self.devices.get(key)
        if view is None:
            if len(self.devices) >= self.max_devices:
                if len(self.left_out) < LEFT_OUT_KEPT:
                    self.left_out.add(hash(key))
                return None
            view = self.devices[key] = DeviceView()
            device = self.devices.get(key.split("/", 1)[0]) if "/" in key else None
            if device is not None:
                view.status = device.status  # a camera is as available as its device
        return view

    def _to_cameras(self, device: str, kind: str, payload: Any) -> None:
        """A several-camera device's availability holds for its cameras, and its stats carry each
        camera's fps (a camera is named there before its first stream message)."""
        if kind == "availability":
            for key, view in self.devices.items():
                if key.startswith(device + "/"):
                    view.update(kind, payload)
        elif kind == "stats" and isinstance(payload.get("cameras"), dict):
            for name, figures in list(payload["cameras"].items())[: self.max_devices]:
                if not isinstance(figures, dict):
                    continue
                camera = self._view(f"{device}/{clean(str(name)).replace('/', '?')}")
                if camera is not None:
                    camera.update("stats", figures)

    def rows(self, device: str) -> list[tuple[str, ...]]:
        view = self.devices[device]
        name, status = clean(device), view.status
        if view.offline:
            return [(name, status, "-", "-", "-", "-")]
        fps = "-" if view.fps is None else f"{view.fps:.1f}"
        if not view.faces:
            return [(name, status, fps, "-", view.emotion or "-", _score(view.score))]
        rows: list[tuple[str, ...]] = [
            (name, status, fps, f"{face_id}{'*' if face_id == view.main_face else ''}", emotion, _score(score))
            for face_id, emotion, score in view.faces
        ]
        if view.more_faces:
            rows.append((name, status, fps, f"+{view.more_faces}", "more", "-"))
        return rows

    def left_out_text(self) -> str:
        count = len(self.left_out)
        more = "+" if count >= LEFT_OUT_KEPT else ""
        return f"{count}{more} more device(s) left out (this table shows {self.max_devices}: use --device ID or --json)"

    def table(self) -> str:
        lines = [format_row(COLUMNS)]
        for device in sorted(self.devices):
            lines.extend(format_row(r) for r in self.rows(device))
        footer = f"{len(self.devices)} device(s), {self.messages} message(s)"
        if self.invalid:
            footer += f", {self.invalid} unreadable"
        if self.left_out:
            footer += f"; {self.left_out_text()}"
        lines.append(f"{footer}; * main face; Ctrl-C to quit")
        return "\n".join(lines)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_row(cells: tuple[str, ...]) -> str:
    """One table line: each cell cleaned and cut to its limit (a cut ends in an ellipsis), then padded."""
    return "  ".join(
        clean(cell, limit).ljust(width) if i in (0, 1, 3, 4) else clean(cell, limit).rjust(width)
        for i, (cell, width, limit) in enumerate(zip(cells, WIDTHS, LIMITS))
    ).rstrip()


def decode(kind: str, payload: bytes) -> tuple[Any, bool]:
    """The payload as strict JSON (availability as text); ``(text, False)`` when it is not what it
    should be (not UTF-8, not JSON, ``NaN``). Raises ``Unusable`` for a payload over ``MAX_PAYLOAD``
    bytes or nested over ``MAX_DEPTH``."""
    check_size(payload)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("utf-8", errors="replace"), False
    if kind == "availability":
        return text, True
    if too_deep(text):
        raise Unusable(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return parse_text(text), True
    except Unusable:
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
        self._said_left_out = False

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
        if len(self._rejected) >= 10_000:  # a flood of topics: keep only those named within REPORT_S
            self._rejected = {t: v for t, v in self._rejected.items() if now - v[0] < REPORT_S}
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
            self.out.write(dumps(line) + "\n")
            self.out.flush()
            return
        if not ok:
            self.reject(topic, "not valid JSON" if kind != "availability" else "not UTF-8")
            return
        if not self.state.update(device, kind, payload):
            self.reject(topic, f"not a {kind} payload")
            return
        if device not in self.state.devices:  # past the cap: counted, said once, not shown
            if not self._said_left_out:
                self._said_left_out = True
                self.err.write(
                    f"emotion-edge watch: over {self.state.max_devices} devices; the others are left out "
                    "of the table (use --device ID or --json)\n"
                )
                self.err.flush()
            return
        if self.interactive:
            self._dirty = True
            return
        # A device's availability and stats change its cameras' rows too.
        keys = [device] + ([k for k in self.state.devices if k.startswith(device + "/")] if "/" not in device else [])
        for key in keys:
            rows = self.state.rows(key)
            if rows == self._printed.get(key):
                continue  # a re-sent retained state or an unchanged update: nothing new to read
            self._printed[key] = rows
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


class Waiting:
    """Says, every ``WAITING_S`` while the broker cannot be reached, that watch is still waiting and
    why (the link logs the first failure itself)."""

    def __init__(self, where: str, err: TextIO) -> None:
        self.where = where
        self.err = err
        self.since: float | None = None
        self.said_at = 0.0

    def check(self, connected: bool, failure: Failure | None) -> None:
        now = time.monotonic()
        if connected or failure is None:
            self.since = None
            return
        if self.since is None:
            self.since, self.said_at = now, now
            return
        if now - self.said_at >= WAITING_S:
            self.said_at = now
            self.err.write(
                f"emotion-edge watch: still waiting for the broker at {self.where} ({now - self.since:.0f} s so far): "
                f"{failure.message}; retrying (Ctrl-C to stop)\n"
            )
            self.err.flush()


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
    0, or 2 on a failure that retrying cannot fix (bad credentials, an untrusted certificate).

    A broker that cannot be reached (refused, down, not resolvable) is waited for, ``--count`` or
    not, and watch says so every ``WAITING_S`` with the reason and how long it has waited: a broker
    that restarts or comes up after the tool is the usual case (as the device itself and Home
    Assistant's MQTT client wait), ``--count`` counts messages rather than bounding time, and a
    script that wants a deadline has ``timeout``. Silence is the one thing it must not do."""
    from edge.mqtt.client.link import Link  # paho is imported only when watching

    if interactive is None:
        interactive = out.isatty() and not as_json
    printer = Printer(out, as_json, interactive, err)
    inbox: queue.Queue[tuple[str, bytes, bool] | Failure] = queue.Queue()
    link = Link(
        config,
        watch_client_id(),
        subscriptions=[(subscription(config.base, device), 1), (camera_subscription(config.base, device), 1)],
        on_message=lambda topic, payload, retained: inbox.put((topic, payload, retained)),
        on_failure=lambda failure: inbox.put(failure) if failure.permanent else None,
        name="mqtt-watch",
    )
    seen = 0
    stopping = threading.Event()
    waiting = Waiting(f"{config.host}:{config.resolved_port}", err)
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
                waiting.check(link.connected, link.last_failure)
        printer.tick(final=True)
        return 0
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0  # the reader went away (`watch | head`): that is how it ends
    finally:
        link.stop(0.0)
