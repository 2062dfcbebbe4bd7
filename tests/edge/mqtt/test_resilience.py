"""The broker is down, restarts or hangs: the device keeps running, catches up, and counts losses."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.mqtt.client.publisher import MqttPublisher
from edge.mqtt.topics import Topics
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber, face, frame, validate, wait_until
from tests.edge.mqtt.conftest import DEVICE

T = Topics("emotion-edge", DEVICE)


class Feeder:
    """The frame loop's stand-in: hands a frame to the publisher every ``period`` seconds, in its
    own thread, and records how long each hand-over took."""

    def __init__(self, publisher: MqttPublisher, period: float = 0.02) -> None:
        self.publisher = publisher
        self.period = period
        self.index = 0
        self.slowest = 0.0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.index += 1
                f = frame(self.index, face(1, "happy" if (self.index // 25) % 2 else "sad"))
                started = time.monotonic()
                self.publisher.handle_frame(f)
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(self.period)
        except BaseException as exc:  # the test fails on anything the publisher raises
            self.error = exc

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        assert self.error is None, f"the publisher raised into the frame loop: {self.error!r}"


@pytest.fixture
def down_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker that is configured but not running yet."""
    b = Broker(tmp_path)
    yield b
    b.stop()


@pytest.mark.realtime(reason="start() returning within 1 s is a wall-clock bound")
def test_the_device_starts_with_the_broker_down_and_publishes_the_right_state_once_it_is_up(
    make_publisher, down_broker: Broker
) -> None:
    started = time.monotonic()
    p = make_publisher(port=down_broker.port)
    assert time.monotonic() - started < 1.0  # start() does not wait for the broker
    p.handle_frame(frame(1, face(1, "happy")))
    p.handle_frame(frame(2, face(1, "sad")))  # the retained state to expect is the latest one
    wait_until(lambda: p.last_failure is not None, what="a connection failure")
    assert "refused" in p.last_failure.message and not p.connected and p.running

    down_broker.start()
    wait_until(lambda: p.connected, timeout=10, what="connected")
    # Connected comes before the held state is flushed: a subscriber that came in between would get
    # it live (retain off). One subscriber waits for it to reach the broker; a later one must then
    # find it retained.
    first = Subscriber(down_broker.port).start()
    try:
        assert [first.wait_topic(T.emotion).json()["emotion"]] == ["sad"]
    finally:
        first.stop()
    late = Subscriber(down_broker.port).start()
    try:
        assert late.wait_topic(T.availability).text == "online"
        emotion = late.wait_topic(T.emotion)
        assert emotion.retain and emotion.json()["emotion"] == "sad"
        late.wait_topic(f"homeassistant/sensor/{DEVICE}/emotion/config")
        time.sleep(0.2)
        assert [r.json()["emotion"] for r in late.on(T.emotion)] == ["sad"]  # the stale "happy" never went out
    finally:
        late.stop()
    # emotion happy -> sad, and presence: the empty room at start -> the face of frame 1
    assert p.figures()["superseded"] == 2


@pytest.mark.realtime(reason="the 5 s resume bound and 2 s of frames overflowing the queue are wall-clock")
def test_after_a_broker_restart_publishing_resumes_within_5_s_and_what_was_dropped_is_counted(
    make_publisher, broker: Broker, subscriber: Subscriber
) -> None:
    # The product's own reconnect timing (not the tests' quick one), and a small queue that the
    # outage overflows.
    p = make_publisher(
        reconnect_min_s=0.5,
        reconnect_max_s=4.0,
        queue_size=20,
        rate={"faces_interval_ms": 0, "faces_min_interval_ms": 0},
    )
    with Feeder(p) as feeder:
        subscriber.wait_topic(T.faces)
        broker.stop()
        wait_until(lambda: not p.connected, what="the loss noticed")
        time.sleep(2.0)
        sent_before = p.figures()["sent"]
        broker.start()
        up_at = time.monotonic()
        wait_until(lambda: p.connected and p.figures()["sent"] > sent_before, timeout=5.0, what="publishing resumed")
        assert time.monotonic() - up_at <= 5.0
        index_at_restart = feeder.index
        got = subscriber.wait_for(
            lambda r: r.topic == T.faces and r.json()["frame"] > index_at_restart, timeout=10, what="new frames"
        )
        validate("faces", got.json())
        p.handle_stats({"fps": 50.0})
        stats = subscriber.wait_topic(T.stats).json()
    assert p.running
    figures = p.figures()
    assert figures["dropped"]["overflow"] > 0  # 2 s of frames did not fit in 20 places
    assert stats["dropped_messages"] >= figures["dropped"]["overflow"] > 0
    assert stats["mqtt"]["disconnects"] == 1 and stats["mqtt"]["connects"] == 2
    late = Subscriber(broker.port, topics=(T.availability, T.emotion)).start()
    try:  # the restarted broker had lost the retained state; the publisher sent it again
        assert late.wait_topic(T.availability).text == "online"
        late.wait_topic(T.emotion)
    finally:
        late.stop()


@pytest.mark.realtime(reason="each hand-over under 0.25 s at 100 frames/s is a wall-clock bound")
def test_a_hung_broker_never_stalls_the_frame_loop_and_the_queue_stays_bounded(
    make_publisher, broker: Broker, subscriber: Subscriber
) -> None:
    # QoS 1 faces: a silent broker acknowledges nothing, so messages back up as fast as possible.
    p = make_publisher(
        queue_size=30,
        max_inflight=5,
        qos={"faces": 1},
        rate={"faces_interval_ms": 0, "faces_min_interval_ms": 0},
    )
    subscriber.wait_topic(T.availability, "online")
    broker.pause()  # SIGSTOP
    try:
        frames, period = 200, 0.01
        worst = 0.0
        started = time.monotonic()
        for i in range(frames):
            t0 = time.monotonic()
            p.handle_frame(frame(i, face(i % 7)))  # a new face every frame: every frame is a change
            worst = max(worst, time.monotonic() - t0)
            f = p.figures()
            assert f["queued"] <= 30 and f["in_flight"] <= 5
            time.sleep(period)
        elapsed = time.monotonic() - started
    finally:
        broker.resume()
    # Full rate: no hand-over waited on the network (a blocked send would take seconds).
    assert worst < 0.25 and elapsed < frames * period + 3.0
    assert p.figures()["dropped"]["overflow"] >= frames - 30 - 5 - 5
    mark = subscriber.mark()
    p.handle_frame(frame(1000, face(99)))
    subscriber.wait_for(lambda r: r.topic == T.faces and r.json()["frame"] == 1000, start=mark, what="after resume")
    assert p.running and p.connected


@pytest.mark.realtime(reason="close() within flush timeout + 2 s is a wall-clock bound")
def test_closing_with_the_broker_gone_gives_up_after_the_flush_timeout_and_says_what_was_lost(
    make_publisher, broker: Broker, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    p = make_publisher(flush_timeout_s=1.0)  # the flush limit under test
    subscriber.wait_topic(T.availability, "online")
    broker.kill()
    wait_until(lambda: not p.connected, what="the loss noticed")
    for i in range(5):
        p.handle_frame(frame(i, face(i)))
    caplog.set_level(logging.WARNING, logger="edge.mqtt")
    started = time.monotonic()
    p.close()
    assert time.monotonic() - started < 1.0 + 2.0
    assert any("unsent" in r.getMessage() for r in caplog.records)


def test_a_broker_that_takes_the_connection_but_never_answers_is_given_up_and_retried(
    make_publisher, broker: Broker
) -> None:
    broker.pause()  # the kernel still accepts TCP connections; no CONNACK will come
    try:
        p = make_publisher(connect_timeout_s=1.0)
        p.handle_frame(frame(1, face(1)))
        wait_until(lambda: p.last_failure is not None, what="the attempt given up")
        assert "did not accept it within 1 s" in p.last_failure.message and p.running
    finally:
        broker.resume()
    wait_until(lambda: p.connected, what="connected once the broker answers")


def test_after_a_reconnect_online_goes_out_before_the_state_that_changed_meanwhile(
    make_publisher, broker: Broker, subscriber: Subscriber
) -> None:
    # docs/mqtt.md: on each (re)connect the device sends `online`, the discovery configs, the current
    # presence and the current emotion, in that order. The disconnect is real: another client takes
    # over the publisher's client id, and the broker drops the publisher. The retry waits 1-2 s, so
    # the frames below arrive while it is away.
    p = make_publisher(reconnect_min_s=2.0, reconnect_max_s=2.0, rate={"faces_min_interval_ms": 0})
    p.handle_frame(frame(1, face(1, "sad")))
    subscriber.wait_for(lambda r: r.topic == T.emotion and r.json()["emotion"] == "sad", what="sad")
    subscriber.wait_for(lambda r: r.topic == T.faces and r.json()["frame"] == 1, what="frame 1")
    # Frame 1's presence too: on a busy machine it arrived after the mark and came first there.
    subscriber.wait_for(lambda r: r.topic == T.presence and r.json()["faces"] == 1, what="frame 1's presence")
    mark = subscriber.mark()
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=p.config.resolved_client_id)
    intruder.connect(broker.host, broker.port)
    intruder.loop_start()
    try:
        wait_until(lambda: not p.connected, what="the publisher dropped by the takeover")
    finally:
        intruder.disconnect()
        intruder.loop_stop()
    p.handle_frame(frame(2, face(1, "happy"), face(2, "happy")))  # emotion and presence both change
    assert not p.connected, "the publisher reconnected before the change: the test saw no outage"
    happy = subscriber.wait_for(
        lambda r: r.topic == T.emotion and r.json()["emotion"] == "happy", start=mark, what="the changed emotion"
    )
    subscriber.wait_topic(T.availability, "online", start=mark)
    subscriber.wait_for(lambda r: r.topic == T.presence and r.json()["faces"] == 2, start=mark, what="presence")
    seen = subscriber.received[mark:]
    ours = [(r.topic, r.payload) for r in seen if r.topic.startswith(T.root) or r.topic.startswith("homeassistant/")]
    ours = [m for m in ours if m != (T.availability, b"offline")]  # the will, published by the broker
    assert ours[0] == (T.availability, b"online"), ours[:4]
    presence = next(i for i, (topic, payload) in enumerate(ours) if topic == T.presence and b'"faces":2' in payload)
    assert ours.index((T.emotion, happy.payload)) > 0 and presence > 0
    assert p.connected and p.figures()["connects"] == 2
