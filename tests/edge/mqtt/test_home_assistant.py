"""What Home Assistant shows stays true: retained presence (faces, occupancy, the emotion and its
attributes), state re-sent on Home Assistant's birth message, and a way to remove a device.

A real broker and real clients; the check against a real Home Assistant is `make ha-check`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from edge.mqtt.config import MqttConfig
from edge.mqtt.topics import Topics
from emotion_edge.cli import main
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Received, Subscriber, face, frame, validate
from tests.edge.mqtt.conftest import DEVICE, publisher_table

T = Topics("emotion-edge", DEVICE)
ROOT = Path(__file__).resolve().parents[3]
ENTITIES = [
    *(f"homeassistant/sensor/{DEVICE}/{name}/config" for name in ("emotion", "faces", "fps", "latency")),
    *(f"homeassistant/binary_sensor/{DEVICE}/{name}/config" for name in ("occupancy", "problem")),
]


def presence(r: Received) -> dict:  # type: ignore[type-arg]
    payload = r.json()
    validate("presence", payload)
    return payload  # type: ignore[no-any-return]


def retained_now(broker: Broker, topics: tuple[str, ...] = ("#",), settle: float = 0.5) -> dict[str, Received]:
    """What a subscriber that connects now is handed at once: the broker's retained messages."""
    late = Subscriber(broker.port, topics=topics).start()
    try:
        time.sleep(settle)
        return {r.topic: r for r in late.received if r.retain}
    finally:
        late.stop()


def test_a_device_restarted_into_an_empty_room_replaces_the_stale_face_count(
    make_publisher, broker: Broker, subscriber: Subscriber
) -> None:
    stale = {"v": 1, "ts": 1.0, "time": "1970-01-01T00:00:01.000Z", "faces": 1, "occupied": True}
    subscriber.publish(T.presence, json.dumps({**stale, "emotion": "happy", "score": 0.9, "face_id": 1}), retain=True)
    mark = subscriber.mark()
    make_publisher()  # starts, sees nobody (no frame yet)
    first = presence(subscriber.wait_topic(T.presence, start=mark))
    assert (first["faces"], first["occupied"], first["emotion"]) == (0, False, "none")
    # Home Assistant restarting later is handed the true count at once: it is retained.
    assert presence(retained_now(broker, (T.presence,))[T.presence])["faces"] == 0


def test_presence_follows_faces_and_occupancy_with_the_emotion_hold(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher(rate={"emotion_none_after_s": 0.4, "faces_min_interval_ms": 0, "faces_interval_ms": 0})
    subscriber.wait_topic(T.presence)
    mark = subscriber.mark()
    p.handle_frame(frame(1, face(3, "happy", 0.8), face(4, "sad", size=40)))
    got = presence(subscriber.wait_topic(T.presence, start=mark))
    assert (got["faces"], got["occupied"], got["emotion"], got["face_id"], got["score"]) == (2, True, "happy", 3, 0.8)
    mark = subscriber.mark()
    p.handle_frame(frame(2))  # they left: the count says so at once, occupancy holds a moment
    got = presence(subscriber.wait_topic(T.presence, start=mark))
    assert (got["faces"], got["occupied"], got["emotion"], got["score"]) == (0, True, "happy", None)
    mark = subscriber.mark()
    time.sleep(0.45)
    p.handle_frame(frame(3))
    got = presence(subscriber.wait_topic(T.presence, start=mark))
    assert (got["faces"], got["occupied"], got["emotion"]) == (0, False, "none")


def test_the_emotion_attributes_are_refreshed_at_a_bounded_rate(make_publisher, subscriber: Subscriber) -> None:
    p = make_publisher(rate={"presence_interval_s": 0.3})
    subscriber.wait_topic(T.presence)
    mark = subscriber.mark()
    started = time.monotonic()
    score = 0.50
    while time.monotonic() - started < 1.6:  # the same emotion all along, its score creeping up
        p.handle_frame(frame(1, face(1, "happy", score)))
        score = min(0.99, score + 0.005)
        time.sleep(0.02)
    time.sleep(0.2)
    sent = [presence(r) for r in subscriber.received[mark:] if r.topic == T.presence]
    # the emotion never changed, yet the score reached Home Assistant every 0.3 s, and no more often
    assert 4 <= len(sent) <= 7, [s["score"] for s in sent]
    assert all(s["emotion"] == "happy" for s in sent)
    assert sent[-1]["score"] > sent[0]["score"] + 0.2


def test_home_assistants_birth_message_gets_discovery_presence_and_the_latest_stats_again(
    make_publisher, subscriber: Subscriber
) -> None:
    p = make_publisher()
    p.handle_frame(frame(1, face(1, "neutral")))
    p.handle_stats({"fps": 12.5, "state": "degraded", "reasons": ["source lost, reopening"]})
    subscriber.wait_topic(T.stats)
    for topic in ENTITIES:
        subscriber.wait_topic(topic)
    mark = subscriber.mark()
    subscriber.publish("homeassistant/status", "online")
    for topic in ENTITIES:
        validate("discovery", subscriber.wait_topic(topic, start=mark).json())
    assert presence(subscriber.wait_topic(T.presence, start=mark))["emotion"] == "neutral"
    assert subscriber.wait_topic(T.stats, start=mark).json()["fps"] == 12.5  # fps, latency, problem


def test_mqtt_forget_removes_the_device_from_home_assistant_and_the_broker(
    make_publisher, broker: Broker, subscriber: Subscriber, capsys
) -> None:
    p = make_publisher()
    p.handle_frame(frame(1, face(1, "happy")))
    subscriber.wait_topic(T.emotion)
    p.close()
    subscriber.wait_topic(T.availability, "offline")
    assert set(ENTITIES) <= set(retained_now(broker))
    mark = subscriber.mark()
    code = main(["mqtt", "forget", "--device-id", DEVICE, "--host", broker.host, "--port", str(broker.port)])
    assert code == 0
    assert f"forgot {DEVICE!r}" in capsys.readouterr().out
    for topic in ENTITIES:  # an empty config is how Home Assistant is told to remove an entity
        assert subscriber.wait_topic(topic, start=mark).payload == b""
    left = [t for t in retained_now(broker) if f"/{DEVICE}/" in t]
    assert left == [], left


def test_mqtt_forget_reads_the_device_and_broker_from_a_device_config(
    make_publisher, broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    p = make_publisher(device_id="porch", discovery={"prefix": "ha"})
    subscriber.wait_topic("ha/sensor/porch/emotion/config")
    p.close()
    config = tmp_path / "device.toml"
    config.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "porch"\n[mqtt.discovery]\nprefix = "ha"\n'
    )
    assert main(["mqtt", "forget", "--config", str(config)]) == 0
    assert [t for t in retained_now(broker) if "porch" in t] == []


def test_mqtt_devices_lists_the_announced_devices_so_a_stale_one_can_be_found_and_forgotten(
    make_publisher, broker: Broker, subscriber: Subscriber, capsys
) -> None:
    make_publisher(device_id="kitchen")  # running
    old = make_publisher(device_id="kitchen-old", base="home/cams")  # an earlier device_id, gone
    subscriber.wait_topic("homeassistant/sensor/kitchen/emotion/config")
    subscriber.wait_topic("homeassistant/sensor/kitchen-old/emotion/config")
    old.close()
    subscriber.wait_topic("home/cams/kitchen-old/availability", "offline")
    subscriber.publish("homeassistant/sensor/other/temp/config", json.dumps({"name": "not ours"}), retain=True)
    flags = ["--host", broker.host, "--port", str(broker.port)]
    assert main(["mqtt", "devices", *flags]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0][:4] == ["DEVICE", "STATUS", "BASE", "ENTITIES"]
    assert rows[1][:4] == ["kitchen", "online", "emotion-edge", "6"]
    assert rows[2][:4] == ["kitchen-old", "offline", "home/cams", "6"]
    assert len(rows) == 4 and "mqtt forget" in " ".join(rows[3])
    assert main(["mqtt", "forget", "--device-id", "kitchen-old", "--base", "home/cams", *flags]) == 0
    capsys.readouterr()
    assert main(["mqtt", "devices", *flags]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:-1]] == ["kitchen"]


def test_mqtt_forget_says_so_when_the_broker_is_not_there(capsys) -> None:
    from tests.ports import free_port

    started = time.monotonic()
    code = main(
        ["mqtt", "forget", "--device-id", "x", "--host", "127.0.0.1", "--port", str(free_port()), "--timeout", "1"]
    )
    assert code == 2 and time.monotonic() - started < 10
    assert "could not reach the broker" in capsys.readouterr().err


def test_the_demo_leaves_no_device_behind_on_a_real_broker(
    make_publisher, broker: Broker, subscriber: Subscriber, capsys
) -> None:
    from edge.tools.demo import DEMO_DEVICE, forget_demo

    p = make_publisher(device_id=DEMO_DEVICE)
    subscriber.wait_topic(f"homeassistant/sensor/{DEMO_DEVICE}/emotion/config")
    p.close()
    forget_demo(MqttConfig.from_dict(publisher_table(broker.port, device_id=DEMO_DEVICE)), announce=True)
    assert "demo device is removed" in capsys.readouterr().out
    assert [t for t in retained_now(broker) if f"/{DEMO_DEVICE}/" in t] == []


def test_uninstalling_the_service_forgets_the_device() -> None:
    script = (ROOT / "systemd" / "uninstall.sh").read_text()
    assert "mqtt forget --config" in script


def test_the_device_page_links_to_the_live_view_when_it_is_on() -> None:
    import socket

    from edge.service.runner import live_view_url
    from edge.web.config import WebConfig

    def url(**table: object) -> str | None:
        return live_view_url(WebConfig.from_table(table))

    assert url() is None  # the live view is off by default
    assert url(enabled=True, port=0) is None  # its port is known only once it runs
    assert url(enabled=True, host="127.0.0.1", port=8080) == "http://127.0.0.1:8080/"
    everywhere = url(enabled=True, host="0.0.0.0", port=8443, token_env="VIEW_TOKEN")
    assert everywhere == f"http://{socket.gethostname()}:8443/"
    assert url(enabled=True, host="::1", port=8080) == "http://[::1]:8080/"
