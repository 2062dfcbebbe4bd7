"""``emotion-edge mqtt devices`` reads retained discovery configs anyone may publish: hostile ones
(terminal escapes, malformed shapes, deep nesting) are cleaned or skipped and counted, never fatal.
The messages go to a broker the test starts itself."""

from __future__ import annotations

import json

from emotion_edge.cli import main
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber

ESCAPES = ("\x1b", "\x07", "\x9b", "\u202e", "\u200b")


def test_mqtt_devices_cleans_hostile_retained_configs_and_skips_malformed_ones_saying_so(
    make_publisher, broker: Broker, subscriber: Subscriber, capsys
) -> None:
    make_publisher(device_id="kitchen")
    ours = {"name": "emotion-edge"}
    hostile = {
        # A device whose strings clear the screen and set the window title.
        "homeassistant/sensor/evil/emotion/config": {
            "origin": ours,
            "availability_topic": "emotion-edge/evil/availability",
            "device": {"name": "x", "model": "\x1b[2J\x1b[Hcleared\x1b]0;pwned\x07", "model_id": "\u202eabc\u200b"},
        },
        # An origin that is not an object was an AttributeError; it is not ours (no origin.name), so
        # it is neither listed nor counted, like another integration's config.
        "homeassistant/sensor/bad-origin/x/config": {"origin": "emotion-edge"},
        "homeassistant/sensor/bad-device/x/config": {
            "origin": ours,
            "availability_topic": "emotion-edge/bad-device/availability",
            "device": ["not", "an", "object"],  # was AttributeError
        },
        "homeassistant/sensor/wildcard/x/config": {"origin": ours, "availability_topic": "emotion-edge/#/availability"},
    }
    for topic, payload in hostile.items():
        subscriber.publish(topic, json.dumps(payload), retain=True)
    deep = "homeassistant/sensor/deep/x/config"
    subscriber.publish(deep, "[" * 30_000 + "]" * 30_000, retain=True)  # was RecursionError
    subscriber.publish("emotion-edge/evil/availability", "online\x1b]0;title\x07\x1b[2J", retain=True)
    subscriber.wait_topic("homeassistant/sensor/kitchen/emotion/config")
    subscriber.wait_topic(deep)

    assert main(["mqtt", "devices", "--host", broker.host, "--port", str(broker.port)]) == 0
    captured = capsys.readouterr()
    for ch in ESCAPES:
        assert ch not in captured.out and ch not in captured.err, repr(ch)
    rows = [line.split() for line in captured.out.splitlines()]
    assert rows[0][:4] == ["DEVICE", "STATUS", "BASE", "ENTITIES"]
    by_device = {row[0]: row for row in rows[1:-1]}
    assert set(by_device) == {"kitchen", "evil"}
    assert by_device["evil"][:4] == ["evil", "online]0…", "emotion-edge", "1"]  # cleaned, cut to its column
    assert "[2J[Hcleared]0;pwned abc" in captured.out
    assert by_device["kitchen"][:3] == ["kitchen", "online", "emotion-edge"]
    # The malformed ones (a device list, a wildcard availability topic, deep nesting) are counted on
    # stderr in one line, naming the first.
    (note,) = captured.err.splitlines()
    assert note.startswith("emotion-edge mqtt devices: skipped 3 malformed retained config(s) under homeassistant/")
