"""The heartbeat while no frame comes: alive (READY=1 and pings) only while the capture thread sleeps
between attempts to open a missing or lost camera; a hung read or frames that fail get no pings."""

from __future__ import annotations

from edge.mqtt.payloads import stats_payload
from edge.mqtt.schemas import load_schema
from edge.service.notify import Heartbeat, Notifier
from tests.edge.service.service_manager import ServiceManager
from tests.edge.service.test_notify import Clock, manager  # noqa: F401  (the fixture)


def test_waiting_for_a_missing_camera_is_ready_and_alive_a_hung_read_is_not(manager: ServiceManager) -> None:  # noqa: F811
    clock = Clock()
    heartbeat = Heartbeat(Notifier.from_env(manager.env(watchdog_usec=1_000_000)), status_interval_s=1.0, clock=clock)
    waiting = "degraded: waiting for /dev/video0: /dev/video0: no such device"
    for _ in range(8):  # 2 s asleep between reopen attempts: READY, then a ping every 0.5 s
        heartbeat.idle(waiting, alive=True)
        clock.now += 0.25
    heartbeat.notifier.send(X_MARK=1)
    for _ in range(8):  # 2 s inside a read or an open that does not return: no pings
        heartbeat.idle("no frame from /dev/video0 for 2 s", alive=False)
        clock.now += 0.25
    heartbeat.notifier.send(X_END=1)
    manager.wait_for(lambda n: "X_END" in n.fields, 5, "the end marker")
    kinds = [n.fields for n in manager.received]
    mark = kinds.index({"X_MARK": "1"})
    assert kinds[0] == {"READY": "1", "STATUS": waiting}
    assert sum(1 for k in kinds[:mark] if k == {"WATCHDOG": "1"}) == 4
    assert not any("WATCHDOG" in k for k in kinds[mark:])
    assert {"STATUS": "no frame from /dev/video0 for 2 s"} in kinds[mark:]


def test_the_stats_payload_carries_state_and_reasons_valid_against_the_schema() -> None:
    import jsonschema

    mqtt = {
        "connected": True, "connects": 1, "disconnects": 0, "sent": 1, "queued": 0, "queue_capacity": 100,
        "state_pending": 0, "in_flight": 0, "superseded": 0,
        "dropped": {"overflow": 0, "lost": 0, "rejected": 0, "invalid": 0, "total": 0},
    }  # fmt: skip
    common = {"ts": 1.0, "uptime_s": 1.0, "faces": 0, "backend": "onnxruntime", "model_name": "m"}
    loop = {"fps": 0.0, "state": "degraded", "reasons": ["waiting for /dev/video0: no such device"]}
    degraded = stats_payload(loop, model_version="1", mqtt=mqtt, **common)
    assert degraded["state"] == "degraded" and degraded["reasons"] == loop["reasons"]
    jsonschema.validate(degraded, load_schema("stats"))
    silent = stats_payload({"fps": 10.0}, model_version="1", mqtt=mqtt, **common)  # a loop that says nothing
    assert (silent["state"], silent["reasons"]) == ("ok", [])
    jsonschema.validate(silent, load_schema("stats"))
