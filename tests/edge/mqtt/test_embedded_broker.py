"""The fallback for machines without Mosquitto: the embedded Python broker (amqtt) carries the
contract too. (Set EMOTION_EDGE_TEST_BROKER=embedded to run the whole suite on it.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.mqtt.topics import Topics
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber, face, frame, validate
from tests.edge.mqtt.conftest import DEVICE

pytest.importorskip("amqtt", reason="amqtt (the embedded test broker) is not installed: pip install -e '.[dev]'")

T = Topics("emotion-edge", DEVICE)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, kind="embedded")
    b.start(timeout=30)
    yield b
    b.stop()


def test_the_embedded_broker_carries_live_and_retained_messages(make_publisher, embedded: Broker) -> None:
    sub = Subscriber(embedded.port).start()
    try:
        p = make_publisher(port=embedded.port)
        p.handle_frame(frame(1, face(1, "happy")))
        sub.wait_topic(T.availability, "online")
        validate("faces", sub.wait_topic(T.faces).json())
    finally:
        sub.stop()
    late = Subscriber(embedded.port, topics=(T.emotion,)).start()
    try:
        retained = late.wait_topic(T.emotion)
        assert retained.retain and retained.json()["emotion"] == "happy"
    finally:
        late.stop()
