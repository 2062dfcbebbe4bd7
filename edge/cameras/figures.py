"""The device's figures from its cameras' latest reports: what a several-camera device's stats say
of its health, rate and latency (the MQTT stats topic and systemd read them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A camera's figures in the device's stats: its health, rate and latency, what its loop reported.
CAMERA_FIGURES = ("state", "reasons", "source", "fps", "frames", "faces_per_frame", "dropped_frames", "frame_errors")


def device_figures(cameras: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The device's health and figures from its cameras' latest reports: ``degraded`` while any
    camera is not ok (each reason named with its camera), ``failed`` only when every camera is; fps
    and frames summed; latency the worst camera's (the figure a subscriber must plan for)."""
    states = {name: str(s.get("state") or "ok") for name, s in cameras.items()}
    reasons = [f"camera {name}: {r}" for name, s in cameras.items() for r in (s.get("reasons") or [])]
    if states and all(st == "failed" for st in states.values()):
        state = "failed"
    elif any(st != "ok" for st in states.values()):
        state = "degraded"
    else:
        state = "ok"
    latencies = [s.get("latency_ms") for s in cameras.values() if isinstance(s.get("latency_ms"), Mapping)]
    worst: Mapping[str, Any] = {}
    for lat in latencies:
        e2e = lat.get("end_to_end", {}) if isinstance(lat, Mapping) else {}
        if not worst or (e2e.get("p99") or 0) > (worst.get("end_to_end", {}).get("p99") or 0):
            worst = lat  # type: ignore[assignment]

    def total(key: str) -> int | float:
        return sum(s.get(key) or 0 for s in cameras.values() if isinstance(s.get(key), (int, float)))

    first = next(iter(cameras.values()), {})
    return {
        "state": state,
        "reasons": reasons,
        "fps": round(float(total("fps")), 2),
        "frames": int(total("frames")),
        "dropped_frames": int(total("dropped_frames")),
        "latency_ms": dict(worst),
        **{k: first[k] for k in ("backend_reason", "model", "detector", "peak_rss_mb") if k in first},
        "cameras": {
            name: {k: s[k] for k in CAMERA_FIGURES if k in s}
            | {"state": states[name], "latency_ms": s.get("latency_ms", {})}
            for name, s in cameras.items()
        },
    }
