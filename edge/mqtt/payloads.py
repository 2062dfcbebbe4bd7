"""The JSON payloads of the contract (schema version 1; edge/schemas has one JSON Schema each).

Every JSON payload starts with ``v`` (the schema version, raised only for incompatible changes) and
``ts`` (wall-clock seconds since the epoch). Probabilities are rounded to 4 decimals, times to
milliseconds. Encoding refuses NaN and infinity: they are not JSON, and a subscriber's parser
would choke on them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from edge.results import FaceResult, FrameResult

SCHEMA_VERSION = 1

# Keys of the stats payload that the publisher owns; other scalar figures of the loop pass through.
STATS_KEYS = (
    "v",
    "ts",
    "uptime_s",
    "backend",
    "model",
    "fps",
    "frames",
    "faces",
    "dropped_frames",
    "dropped_messages",
    "latency_ms",
    "mqtt",
    "state",
    "reasons",
)

# The device's health in the stats payload (``state``): ``ok``; ``degraded`` (it runs, but
# ``reasons`` says what is wrong: waiting for the camera, source lost and retrying, detector or
# classifier errors, a backend fallback); ``failed`` (it is stopping on a fault that cannot heal).
STATES = ("ok", "degraded", "failed")


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; raises ValueError on NaN or infinity."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


def _prob(value: float) -> float:
    return round(float(value), 4)


def face_payload(face: FaceResult) -> dict[str, Any]:
    return {
        "id": int(face.face_id),
        "box": [int(v) for v in face.box],
        "emotion": str(face.emotion),
        "score": _prob(face.score),
        "scores": {str(name): _prob(p) for name, p in face.scores.items()},
    }


def faces_payload(result: FrameResult) -> dict[str, Any]:
    main = result.main_face
    return {
        "v": SCHEMA_VERSION,
        "ts": round(float(result.timestamp), 3),
        "frame": int(result.frame_index),
        "width": int(result.width),
        "height": int(result.height),
        "latency_ms": round(float(result.latency_ms), 2),
        "main_face": int(main.face_id) if main is not None else None,
        "faces": [face_payload(f) for f in result.faces],
    }


def emotion_payload(ts: float, emotion: str, face: FaceResult | None) -> dict[str, Any]:
    """``face`` is the main face the emotion belongs to; None for ``none``."""
    return {
        "v": SCHEMA_VERSION,
        "ts": round(float(ts), 3),
        "emotion": emotion,
        "score": _prob(face.score) if face is not None else None,
        "face_id": int(face.face_id) if face is not None else None,
    }


def iso_time(ts: float) -> str:
    """``ts`` as ISO 8601 in UTC to the millisecond, as people (and Home Assistant) read it."""
    moment = datetime.fromtimestamp(round(float(ts), 3), tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def presence_payload(ts: float, faces: int, occupied: bool, emotion: str, face: FaceResult | None) -> dict[str, Any]:
    """What is in view now: the face count, whether the room counts as occupied, and the main
    face's emotion with its score and track id (``face`` None: no main face in this frame)."""
    return {
        "v": SCHEMA_VERSION,
        "ts": round(float(ts), 3),
        "time": iso_time(ts),
        "faces": int(faces),
        "occupied": bool(occupied),
        "emotion": emotion,
        "score": _prob(face.score) if face is not None else None,
        "face_id": int(face.face_id) if face is not None else None,
    }


def stats_payload(
    loop: Mapping[str, Any],
    *,
    ts: float,
    uptime_s: float,
    faces: int,
    backend: str,
    model_name: str,
    model_version: str,
    mqtt: Mapping[str, Any],
) -> dict[str, Any]:
    """The loop's figures (fps, per-stage latency, dropped frames, ...) with the publisher's own:
    faces in the latest frame, message counts, backend, model and uptime. A figure the loop did
    not report is null rather than invented."""
    dropped = mqtt.get("dropped", {})
    out: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "ts": round(float(ts), 3),
        "uptime_s": round(float(uptime_s), 1),
        "backend": backend,
        "model": {"name": model_name, "version": model_version},
        "fps": _number(loop.get("fps")),
        "frames": _count(loop.get("frames")),
        "faces": int(faces),
        "dropped_frames": _count(loop.get("dropped_frames")),
        "dropped_messages": int(dropped.get("total", 0)) if isinstance(dropped, Mapping) else 0,
        "latency_ms": _latency(loop.get("latency_ms")),
        "mqtt": dict(mqtt),
        **health(loop),
    }
    for key, value in loop.items():
        if key in STATS_KEYS or not isinstance(key, str):
            continue
        if isinstance(value, (bool, int, str)) or value is None:
            out[key] = value
        elif isinstance(value, float):
            out[key] = _number(value)
    return out


def health(loop: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` and ``reasons`` from the loop's figures; a loop that reported no state is ``ok``
    only if it reported no reasons either."""
    raw = loop.get("reasons")
    reasons = [str(r) for r in raw] if isinstance(raw, (list, tuple)) else []
    state = loop.get("state")
    if state not in STATES:
        state = "degraded" if reasons else "ok"
    return {"state": state, "reasons": reasons}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return round(value, 3) if math.isfinite(value) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def _latency(value: Any) -> dict[str, dict[str, float]]:
    """Stages with at least p50 and p99; other finite percentiles (p95, mean, max) pass through."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, dict[str, float]] = {}
    for stage, figures in value.items():
        if not isinstance(figures, Mapping):
            continue
        clean = {str(k): n for k, v in figures.items() if (n := _number(v)) is not None}
        if "p50" in clean and "p99" in clean:
            out[str(stage)] = clean
    return out
