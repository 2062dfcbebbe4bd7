"""A several-camera device on MQTT: one connection, a stream per camera one level below the device,
the device's stats with every camera's figures and health, each camera's Home Assistant entities
on the one device, and `mqtt forget --cameras` clearing them all."""

from __future__ import annotations

from typing import Any

from edge.mqtt.topics import Topics
from emotion_edge.cli import main
from tests.edge.cameras.test_figures import report
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber, face, frame, validate
from tests.edge.mqtt.conftest import DEVICE
from tests.edge.mqtt.test_home_assistant import retained_now

T = Topics("emotion-edge", DEVICE)
DOOR, DESK = T.for_camera("door"), T.for_camera("desk")


def test_each_camera_publishes_on_its_own_topics_and_the_device_reports_them_all(
    make_publisher: Any, subscriber: Subscriber
) -> None:
    p = make_publisher(cameras=("door", "desk"))
    door, desk = p.camera("door"), p.camera("desk")
    door.handle_frame(frame(1, face(1, "happy")))
    desk.handle_frame(frame(1, face(7, "sad"), face(8, "sad", size=50)))
    assert subscriber.wait_topic(DOOR.emotion).json()["emotion"] == "happy"
    assert subscriber.wait_topic(DESK.emotion).json()["emotion"] == "sad"
    faces = subscriber.wait_topic(DESK.faces).json()
    validate("faces", faces)
    assert [f["id"] for f in faces["faces"]] == [7, 8]
    validate("presence", subscriber.wait_topic(DOOR.presence).json())
    assert not subscriber.on(T.emotion) and not subscriber.on(T.faces)  # nothing at the device's level
    door.handle_stats(report())
    stats = subscriber.wait_topic(T.stats).json()
    validate("stats", stats)
    assert set(stats["cameras"]) == {"door", "desk"}
    # The desk has not reported yet: it is not counted as ok.
    assert stats["cameras"]["desk"]["state"] == "degraded" and stats["state"] == "degraded"
    assert stats["faces"] == 3  # the faces of both cameras' latest frames


def test_home_assistant_gets_each_cameras_entities_on_one_device_and_forget_clears_them(
    make_publisher: Any, broker: Broker, subscriber: Subscriber, capsys: Any
) -> None:
    p = make_publisher(cameras=("door", "desk"))
    p.camera("door").handle_frame(frame(1, face(1, "happy")))
    expected = [
        f"homeassistant/{component}/{DEVICE}/{camera}_{entity}/config"
        for camera in ("door", "desk")
        for component, entity in (("sensor", "emotion"), ("sensor", "faces"), ("binary_sensor", "occupancy"),
                                  ("binary_sensor", "problem"))
    ]  # fmt: skip
    devices = set()
    for topic in expected:
        config = subscriber.wait_topic(topic).json()
        validate("discovery", config)
        devices.add(tuple(config["device"]["identifiers"]))
    assert len(devices) == 1  # one device with every camera's entities
    door_emotion = subscriber.wait_topic(f"homeassistant/sensor/{DEVICE}/door_emotion/config").json()
    assert door_emotion["state_topic"] == DOOR.presence and door_emotion["name"] == "Door Emotion"
    # The device's own stream entities are not announced: the streams are the cameras'.
    assert not subscriber.on(f"homeassistant/sensor/{DEVICE}/emotion/config")
    subscriber.wait_topic(DOOR.emotion)
    p.close()
    subscriber.wait_topic(T.availability, "offline")
    flags = ["--device-id", DEVICE, "--host", broker.host, "--port", str(broker.port), "--camera-names", "door,desk"]
    assert main(["mqtt", "forget", *flags]) == 0
    left = [t for t in retained_now(broker) if DEVICE in t]
    assert left == [], left
    assert main(["mqtt", "forget", "--device-id", DEVICE, "--camera-names", "Door/1"]) == 2
    assert "--camera-names: camera name 'Door/1'" in capsys.readouterr().err
