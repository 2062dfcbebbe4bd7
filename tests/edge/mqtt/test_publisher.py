"""The contract, end to end: a publisher, a real broker and a real subscriber."""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest

from edge.mqtt.topics import Topics
from edge.results import FaceResult, FrameResult
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber, face, frame, validate, wait_until
from tests.edge.mqtt.conftest import DEVICE

T = Topics("emotion-edge", DEVICE)
DISCOVERY = [f"homeassistant/sensor/{DEVICE}/{name}/config" for name in ("emotion", "faces", "fps", "latency")] + [
    f"homeassistant/binary_sensor/{DEVICE}/{name}/config" for name in ("occupancy", "problem")
]
LOOP_STATS = {
    "fps": 15.2,
    "frames": 300,
    "dropped_frames": 4,
    "latency_ms": {
        "capture_wait": {"p50": 1.0, "p99": 5.0},
        "detect": {"p50": 8.0, "p99": 11.0},
        "infer": {"p50": 3.0, "p99": 4.5},
        "end_to_end": {"p50": 30.0, "p99": 41.0},
    },
}


def feed(publisher, frames, pause: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    """Hand frames to the publisher like the loop would; a generator builds each one when it is due."""
    for f in frames:
        publisher.handle_frame(f)
        time.sleep(pause)


def test_every_topic_carries_payloads_valid_against_its_schema(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher(rate={"emotion_none_after_s": 0.3})
    subscriber.wait_topic(T.availability, "online")
    feed(p, [frame(i, face(1, "happy"), face(2, "sad", size=40)) for i in range(5)])
    feed(p, [frame(i) for i in range(5, 60)], pause=0.01)
    p.handle_stats(LOOP_STATS)
    subscriber.wait_for(lambda r: r.topic == T.emotion and r.json()["emotion"] == "none", what="emotion none")
    subscriber.wait_topic(T.stats)
    seen = {r.topic for r in subscriber.received}
    assert {T.availability, T.faces, T.emotion, T.stats, T.presence, *DISCOVERY} <= seen
    for r in subscriber.received:
        if r.topic == T.availability:
            validate("availability", r.text)
        elif r.topic in (T.faces, T.emotion, T.stats, T.presence):
            validate(r.topic.rsplit("/", 1)[1], r.json())
        elif r.topic in DISCOVERY:
            validate("discovery", r.json())


def test_state_topics_are_retained_and_streams_are_not(make_publisher, broker: Broker, subscriber: Subscriber) -> None:
    p = make_publisher()
    feed(p, [frame(i, face(3, "surprise", 0.7)) for i in range(3)])
    p.handle_stats(LOOP_STATS)
    subscriber.wait_topic(T.stats)
    late = Subscriber(broker.port).start()
    try:
        late.wait_topic(T.emotion)
        for topic in DISCOVERY:
            late.wait_topic(topic)
        time.sleep(0.3)  # anything else retained would have arrived with these
        retained = {r.topic: r for r in late.received}
        assert set(retained) == {T.availability, T.emotion, T.presence, *DISCOVERY}
        assert all(r.retain for r in retained.values())
        assert retained[T.availability].text == "online"
        assert retained[T.emotion].json()["emotion"] == "surprise"
    finally:
        late.stop()


def test_qos_per_topic_follows_the_configuration(make_publisher, broker: Broker, subscriber: Subscriber) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("amqtt delivers at the subscription's QoS, not the publisher's: QoS is not observable there")
    p = make_publisher(qos={"faces": 1, "stats": 2, "emotion": 0})
    feed(p, [frame(1, face(1))])
    p.handle_stats(LOOP_STATS)
    assert subscriber.wait_topic(T.faces).qos == 1
    assert subscriber.wait_topic(T.stats).qos == 2
    assert subscriber.wait_topic(T.emotion).qos == 0
    assert subscriber.wait_topic(T.availability).qos == 1  # the default for state


def test_faces_are_published_on_change_at_once_and_otherwise_at_most_every_interval(
    make_publisher, subscriber: Subscriber
) -> None:
    p = make_publisher(rate={"faces_interval_ms": 300, "faces_min_interval_ms": 0})

    def faces_at(i: int) -> list[FaceResult]:
        if i < 60:
            return [face(1, "happy")]
        if i == 80:
            return [face(1, "sad"), face(2, "fear")]  # a face appears for one frame
        return [face(1, "sad")] if i < 100 else []  # an emotion changed at 60; all leave at 100

    feed(p, (frame(i, *faces_at(i)) for i in range(101)), pause=0.015)
    subscriber.wait_for(lambda r: r.topic == T.faces and r.json()["frame"] == 100, what="frame 100")
    got = [r.json() for r in subscriber.on(T.faces)]
    changes = {0, 60, 80, 81, 100}
    assert changes <= {m["frame"] for m in got}  # every change went out on its own frame
    assert got[-1]["faces"] == [] and got[-1]["main_face"] is None
    for previous, m in itertools.pairwise(got):
        if m["frame"] not in changes:
            assert m["ts"] - previous["ts"] >= 0.3 * 0.9, f"frame {m['frame']} came too soon after the previous one"
    steady = [m for m in got if m["frame"] not in changes]
    assert len(steady) <= math.ceil(101 * 0.015 / 0.3) + 5  # sleeps only ever run long


def test_flickering_changes_are_capped_by_the_minimum_interval(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher(rate={"faces_interval_ms": 1000, "faces_min_interval_ms": 200})
    feed(p, (frame(i, face(1, "happy" if i % 2 else "sad")) for i in range(60)), pause=0.01)
    feed(p, [frame(60)])
    time.sleep(0.5)
    feed(p, [frame(61)])  # still no face: nothing more to say
    subscriber.wait_for(lambda r: r.topic == T.faces and r.json()["faces"] == [], what="faces left")
    stamps = [r.json()["ts"] for r in subscriber.on(T.faces)]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g >= 0.2 * 0.9 for g in gaps), gaps
    assert len(subscriber.on(T.faces)) <= math.ceil(0.6 / 0.2) + 3


def test_the_emotion_topic_follows_the_largest_face_and_says_none_after_the_timeout(
    make_publisher, subscriber: Subscriber
) -> None:
    p = make_publisher(rate={"emotion_none_after_s": 0.5})
    feed(p, [frame(i, face(1, "happy", size=40), face(2, "sad", size=200)) for i in range(5)])
    feed(p, [frame(i, face(1, "happy", size=40)) for i in range(5, 9)])  # the big face leaves
    last_face_at = time.monotonic()
    p.handle_frame(frame(9, face(1, "happy", size=40)))
    feed(p, (frame(i) for i in range(10, 100)), pause=0.01)
    none = subscriber.wait_for(lambda r: r.topic == T.emotion and r.json()["emotion"] == "none", what="none")
    values = [(r.json()["emotion"], r.json()["face_id"]) for r in subscriber.on(T.emotion)]
    assert values == [("sad", 2), ("happy", 1), ("none", None)]  # on change only, none once
    assert none.at - last_face_at >= 0.5
    assert all(r.retain is False for r in subscriber.on(T.emotion))  # live delivery; the broker retains it


def test_stats_carry_the_loops_figures_and_the_publishers_own(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher(start=False, queue_size=2, rate={"faces_interval_ms": 0, "faces_min_interval_ms": 0})
    feed(p, [frame(i, face(i), face(i + 10)) for i in range(3)], pause=0)  # not connected yet: 1 overflows
    p.start()
    subscriber.wait_topic(T.faces)
    wait_until(lambda: p.figures()["queued"] == 0, what="queue drained")
    p.handle_stats(LOOP_STATS)
    p.handle_stats(LOOP_STATS)  # within the interval: not a second message
    stats = subscriber.wait_topic(T.stats).json()
    validate("stats", stats)
    assert stats["fps"] == 15.2 and stats["dropped_frames"] == 4 and stats["faces"] == 2
    assert stats["latency_ms"]["end_to_end"] == {"p50": 30.0, "p99": 41.0}
    assert stats["backend"] == "onnxruntime" and stats["model"] == {"name": "test-model", "version": "1.2.3"}
    assert stats["uptime_s"] >= 0 and stats["mqtt"]["connected"] is True
    assert stats["dropped_messages"] == stats["mqtt"]["dropped"]["overflow"] == 1
    time.sleep(0.3)
    assert len(subscriber.on(T.stats)) == 1


def test_a_frame_that_cannot_be_encoded_is_counted_not_raised(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher()
    broken = FaceResult(1, (0, 0, 10, 10), "happy", math.nan, {"happy": math.nan})
    p.handle_frame(FrameResult(1, time.time(), 64, 48, (broken,)))
    assert p.figures()["dropped"]["invalid"] == 1
    p.handle_frame(frame(2, face(1)))  # and the next good frame goes out
    assert subscriber.wait_topic(T.faces).json()["frame"] == 2


def test_messages_dropped_as_unencodable_make_the_next_stats_degraded_with_the_reason(
    make_publisher, subscriber: Subscriber
) -> None:
    # #22: a face with NaN scores was dropped by the encoder on every frame while the stats said ok,
    # so Home Assistant's Problem stayed off with nothing published. The loop said ok; the publisher
    # knows better and says so, once per report in which something was dropped.
    p = make_publisher(rate={"stats_interval_s": 0.1})
    broken = FaceResult(1, (0, 0, 10, 10), "happy", math.nan, {"happy": math.nan})
    p.handle_frame(FrameResult(1, time.time(), 64, 48, (broken,)))
    p.handle_stats({"state": "ok", "reasons": []})
    stats = subscriber.wait_topic(T.stats).json()
    validate("stats", stats)
    assert stats["state"] == "degraded"
    (reason,) = stats["reasons"]
    assert reason.startswith("MQTT: 1 message(s) dropped since the last report: they could not be encoded (frame 1: ")
    assert "not JSON compliant" in reason
    time.sleep(0.15)
    p.handle_stats({"state": "ok", "reasons": []})  # nothing dropped since: ok again
    wait_until(lambda: len(subscriber.on(T.stats)) == 2, what="the second report")
    assert subscriber.on(T.stats)[1].json()["state"] == "ok"


def test_home_assistant_gets_discovery_again_when_it_announces_itself(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher()
    feed(p, [frame(1, face(1, "neutral"))])
    for topic in DISCOVERY:
        subscriber.wait_topic(topic)
    subscriber.wait_topic(T.emotion)
    mark = subscriber.mark()
    subscriber.publish("homeassistant/status", "online")
    for topic in DISCOVERY:
        config = json.loads(subscriber.wait_topic(topic, start=mark).payload)
        validate("discovery", config)
    subscriber.wait_topic(T.availability, "online", start=mark)
    assert subscriber.wait_topic(T.emotion, start=mark).json()["emotion"] == "neutral"


def test_discovery_can_use_another_prefix_or_be_turned_off(make_publisher, subscriber: Subscriber) -> None:
    make_publisher(discovery={"prefix": "ha"}, device_id="cam-2")
    subscriber.wait_topic("ha/sensor/cam-2/emotion/config")
    make_publisher(discovery={"enabled": False}, device_id="cam-3")
    subscriber.wait_topic("emotion-edge/cam-3/availability", "online")
    time.sleep(0.2)
    assert not [r for r in subscriber.received if "/cam-3/" in r.topic and r.topic.endswith("/config")]


def test_base_and_device_id_are_configurable(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher(base="home/cams", device_id="porch")
    feed(p, [frame(1, face(1))])
    subscriber.wait_topic("home/cams/porch/availability", "online")
    subscriber.wait_topic("home/cams/porch/faces")


def test_mqtt5_with_a_persistent_session_works_the_same(make_publisher, broker: Broker, subscriber: Subscriber) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("amqtt speaks MQTT 3.1.1 only")
    p = make_publisher(protocol="5", clean_start=False, session_expiry_s=60)
    feed(p, [frame(1, face(1, "fear"))])
    subscriber.wait_topic(T.availability, "online")
    assert subscriber.wait_topic(T.emotion).json()["emotion"] == "fear"
    validate("faces", subscriber.wait_topic(T.faces).json())
    assert p.connected
