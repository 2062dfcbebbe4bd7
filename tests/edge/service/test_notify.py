"""The systemd notify protocol, received on a real Unix datagram socket as systemd would receive it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from edge.service.notify import Heartbeat, Notifier
from tests.edge.service.service_manager import ServiceManager


@pytest.fixture
def manager() -> Iterator[ServiceManager]:
    m = ServiceManager()
    yield m
    m.close()


class Clock:
    """A clock the test moves by hand, so rate limits are checked without sleeping."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_outside_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready("running")
    assert not notifier.watchdog()
    assert not notifier.stopping()


def test_ready_status_watchdog_and_stopping_arrive_as_key_value_datagrams(manager: ServiceManager) -> None:
    notifier = Notifier.from_env(manager.env(watchdog_usec=4_000_000))
    assert notifier.ready("15.0 fps, 1 face, 1 frames")
    assert notifier.status("14.8 fps, 2 faces, 300 frames")
    assert notifier.watchdog()
    assert notifier.stopping("stopping: stopped")
    manager.wait_for(lambda n: "STOPPING" in n.fields, 5, "STOPPING=1")
    notifier.close()
    assert [n.fields for n in manager.received] == [
        {"READY": "1", "STATUS": "15.0 fps, 1 face, 1 frames"},
        {"STATUS": "14.8 fps, 2 faces, 300 frames"},
        {"WATCHDOG": "1"},
        {"STOPPING": "1", "STATUS": "stopping: stopped"},
    ]


def test_an_abstract_namespace_socket_is_reached_through_its_at_sign_address() -> None:
    manager = ServiceManager(abstract=True)
    try:
        assert manager.address.startswith("@")
        notifier = Notifier.from_env(manager.env())
        assert notifier.ready("running")
        manager.wait_for(lambda n: n.fields.get("READY") == "1", 5, "READY=1 on the abstract socket")
        notifier.close()
    finally:
        manager.close()


def test_the_watchdog_is_pinged_at_half_its_interval_and_only_for_our_own_process(manager: ServiceManager) -> None:
    assert Notifier.from_env(manager.env(watchdog_usec=30_000_000)).watchdog_interval_s == 15.0
    assert Notifier.from_env(manager.env()).watchdog_interval_s is None  # WatchdogSec= not set
    ours = {**manager.env(watchdog_usec=2_000_000), "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(ours).watchdog_interval_s == 1.0
    # A watchdog meant for another process (the shell that started us, say) is not ours to feed.
    theirs = {**manager.env(watchdog_usec=2_000_000), "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_env(theirs).watchdog_interval_s is None
    assert Notifier.from_env(manager.env(watchdog_usec=0)).watchdog_interval_s is None


def test_a_status_with_newlines_stays_one_field(manager: ServiceManager) -> None:
    notifier = Notifier.from_env(manager.env())
    notifier.status("camera lost\nREADY=1")
    notification = manager.wait_for(lambda n: "STATUS" in n.fields, 5, "STATUS")
    notifier.close()
    assert notification.fields == {"STATUS": "camera lost READY=1"}


def test_a_manager_that_went_away_is_reported_once_and_never_stops_the_caller(
    manager: ServiceManager, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_env(manager.env())
    manager.close()  # the socket file is gone, as after systemd was restarted
    with caplog.at_level(logging.WARNING, logger="edge.service.notify"):
        assert not notifier.watchdog()
        assert not notifier.status("still running")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert manager.address in warnings[0].getMessage()


def test_an_address_that_is_not_a_unix_socket_disables_notification(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.service.notify"):
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert "vsock:2:1234" in caplog.text


def test_heartbeat_is_ready_with_the_first_frame_then_pings_only_while_frames_come(manager: ServiceManager) -> None:
    clock = Clock()
    heartbeat = Heartbeat(Notifier.from_env(manager.env(watchdog_usec=1_000_000)), status_interval_s=2.0, clock=clock)
    heartbeat.waiting("/dev/video0")  # the camera has not delivered yet: a status, no READY, no ping
    heartbeat.frame(fps=0.0, faces=1, frames=1)  # READY with the first processed frame
    for _ in range(8):  # 2 s of frames at 4 fps: a ping every 0.5 s, a status after 2 s
        clock.now += 0.25
        heartbeat.frame(fps=4.0, faces=2, frames=2)
    for _ in range(10):  # then the camera hangs for 5 s: statuses only
        clock.now += 0.5
        heartbeat.waiting("/dev/video0")
    heartbeat.notifier.send(X_END=1)  # a marker: everything before it has arrived
    manager.wait_for(lambda n: "X_END" in n.fields, 5, "the end marker")
    kinds = [n.fields for n in manager.received[:-1]]

    assert kinds[0] == {"STATUS": "waiting for the first frame from /dev/video0"}
    assert kinds[1] == {"READY": "1", "STATUS": "0.0 fps, 1 face, 1 frames"}
    ready_at = 1
    pings_while_running = [k for k in kinds[ready_at:] if k == {"WATCHDOG": "1"}]
    assert len(pings_while_running) == 5  # the first with READY, then every 0.5 s of the next 2 s
    assert {"STATUS": "4.0 fps, 2 faces, 2 frames"} in kinds
    last_ping = max(i for i, k in enumerate(kinds) if "WATCHDOG" in k)
    after = kinds[last_ping + 1 :]
    assert after and all(set(k) == {"STATUS"} for k in after)
    assert after[-1]["STATUS"].startswith("no frame from /dev/video0 for ")
    assert sum(1 for k in kinds if "READY" in k) == 1


def test_without_a_watchdog_the_heartbeat_sends_ready_and_status_but_no_pings(manager: ServiceManager) -> None:
    clock = Clock()
    heartbeat = Heartbeat(Notifier.from_env(manager.env()), status_interval_s=1.0, clock=clock)
    for _ in range(5):
        heartbeat.frame(fps=10.0, faces=0, frames=1)
        clock.now += 1.0
    heartbeat.notifier.send(X_END=1)
    manager.wait_for(lambda n: "X_END" in n.fields, 5, "the end marker")
    assert not manager.with_key("WATCHDOG")
    assert len(manager.with_key("READY")) == 1
    assert manager.with_key("STATUS", "10.0 fps, 0 faces, 1 frames")


def test_a_camera_that_opens_but_never_streams_is_reported_not_waited_on_silently(
    manager: ServiceManager, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    heartbeat = Heartbeat(
        Notifier.from_env(manager.env()), status_interval_s=2.0, clock=clock, first_frame_timeout_s=10.0
    )
    with caplog.at_level(logging.ERROR, logger="edge.service.notify"):
        for _ in range(30):  # 15 s without a frame
            heartbeat.waiting("csi://0")
            clock.now += 0.5
    heartbeat.notifier.send(X_END=1)
    manager.wait_for(lambda n: "X_END" in n.fields, 5, "the end marker")
    statuses = [n.fields["STATUS"] for n in manager.received if "STATUS" in n.fields]
    assert statuses[0] == "waiting for the first frame from csi://0"
    assert statuses[-1].startswith("no frame from csi://0 in 14 s since it opened: check the camera")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "gave no frame in 10 s (source.first_frame_timeout_s)" in errors[0].getMessage()
    assert not manager.with_key("READY")  # systemd's start timeout still decides; the reason is visible


def test_the_status_line_names_the_backend_and_why(manager: ServiceManager) -> None:
    heartbeat = Heartbeat(Notifier.from_env(manager.env()), backend="onnxruntime (TensorRT failed: CUDA error)")
    heartbeat.frame(fps=29.8, faces=1, frames=1)
    manager.wait_for(lambda n: "READY" in n.fields, 5, "READY")
    assert manager.with_key("STATUS", "29.8 fps, 1 face, 1 frames; onnxruntime (TensorRT failed: CUDA error)")


def test_an_engine_build_extends_the_start_timeout_while_it_runs(manager: ServiceManager) -> None:
    import time

    notifier = Notifier.from_env(manager.env())
    with notifier.extending("building the TensorRT engine", every_s=0.1, by_s=60):
        time.sleep(0.35)
    notifier.send(X_END=1)
    manager.wait_for(lambda n: "X_END" in n.fields, 5, "the end marker")
    extensions = manager.with_key("EXTEND_TIMEOUT_USEC")
    assert 3 <= len(extensions) <= 5
    assert all(n.fields["EXTEND_TIMEOUT_USEC"] == "60000000" for n in extensions)
    assert extensions[0].fields["STATUS"] == "building the TensorRT engine (0 s)"
    count = len(extensions)
    time.sleep(0.3)
    assert len(manager.with_key("EXTEND_TIMEOUT_USEC")) == count  # and stops when the build is done
    with Notifier.from_env({}).extending("nothing to tell"):  # outside systemd: nothing, no thread
        pass
