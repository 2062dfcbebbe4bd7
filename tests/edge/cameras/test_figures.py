"""The device's health and figures from its cameras' reports."""

from __future__ import annotations

from typing import Any

from edge.cameras.figures import device_figures


def report(state: str = "ok", reasons: tuple[str, ...] = (), fps: float = 10.0, p99: float = 30.0) -> dict[str, Any]:
    return {
        "state": state, "reasons": list(reasons), "fps": fps, "frames": 100, "dropped_frames": 1,
        "latency_ms": {"end_to_end": {"p50": p99 / 2, "p99": p99}}, "source": "/dev/video0",
    }  # fmt: skip


def test_the_device_is_degraded_while_a_camera_is_not_ok_and_failed_only_when_all_are() -> None:
    both_ok = device_figures({"door": report(), "desk": report(fps=5.0, p99=80.0)})
    assert both_ok["state"] == "ok" and both_ok["reasons"] == [] and both_ok["fps"] == 15.0
    assert both_ok["latency_ms"]["end_to_end"]["p99"] == 80.0  # the worst camera's
    one_lost = device_figures({"door": report(), "desk": report("degraded", ("source lost, reopening /dev/video2",))})
    assert one_lost["state"] == "degraded"
    assert one_lost["reasons"] == ["camera desk: source lost, reopening /dev/video2"]
    one_failed = device_figures({"door": report(), "desk": report("failed", ("gave up",))})
    assert one_failed["state"] == "degraded" and one_failed["cameras"]["desk"]["state"] == "failed"
    assert device_figures({"door": report("failed"), "desk": report("failed")})["state"] == "failed"
