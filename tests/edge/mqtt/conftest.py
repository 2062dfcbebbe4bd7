"""Fixtures: a real broker on a free port per test, a real subscriber, publishers that close themselves."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.mqtt.client.publisher import MqttPublisher
from edge.mqtt.config import MqttConfig
from tests.edge.mqtt.broker import HOST, MOSQUITTO, MOSQUITTO_PASSWD, Broker, Listener, broker_kind
from tests.edge.mqtt.clients import CLASSES
from tests.edge.mqtt.pki import OPENSSL, Pki, make_pki

DEVICE = "cam-1"
GOOD = "c0rrect horse"  # the test device's password
WRONG = "battery staple"

NEEDS_SECURE_BROKER = [
    pytest.mark.skipif(
        broker_kind() != "mosquitto" or MOSQUITTO is None, reason="TLS and password tests need Mosquitto"
    ),
    pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="mosquitto_passwd is needed to hash the test password"),
    pytest.mark.skipif(OPENSSL is None, reason="the openssl command is needed to make a throwaway CA"),
]


def needs_secure_broker(test: Any) -> Any:
    """Skip ``test``, saying why, where the TLS and password broker cannot be set up."""
    for mark in NEEDS_SECURE_BROKER:
        test = mark(test)
    return test


def publisher_table(port: int, **overrides: Any) -> dict[str, Any]:
    """A test device's [mqtt] table: quick reconnects and a short flush so tests stay fast."""
    return {
        "host": HOST,
        "port": port,
        "device_id": DEVICE,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "flush_timeout_s": 0.5,
        **overrides,
    }


@pytest.fixture
def make_publisher(broker: Broker) -> Iterator[Any]:
    made: list[MqttPublisher] = []

    def make(
        port: int | None = None, start: bool = True, cameras: tuple[str, ...] = (), **overrides: Any
    ) -> MqttPublisher:
        config = MqttConfig.from_dict(publisher_table(port or broker.port, **overrides))
        publisher = MqttPublisher(config, "test-model", "1.2.3", "onnxruntime", CLASSES, cameras=cameras)
        made.append(publisher)
        if start:
            publisher.start()
        return publisher

    yield make
    for p in made:
        p.close()


@dataclass
class SecureBroker:
    broker: Broker
    pki: Pki
    plain: int  # no TLS, password required
    tls: int  # TLS with a certificate for 127.0.0.1
    other_name: int  # TLS with a certificate for broker.example only
    client_cert: int  # TLS that requires a client certificate
    secrets: Path  # files "good" and "wrong", each holding a password


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def secure(tmp_path: Path, pki: Pki) -> Iterator[SecureBroker]:
    """Mosquitto with a password file and four listeners (use with NEEDS_SECURE_BROKER)."""
    passwords = tmp_path / "passwords"
    passwords.write_text(f"{DEVICE}:{GOOD}\n")
    assert MOSQUITTO_PASSWD is not None
    # -U hashes the plain-text file in place, so the password never appears on a command line.
    subprocess.run([MOSQUITTO_PASSWD, "-U", str(passwords)], check=True, capture_output=True)
    listeners = [
        Listener(),
        Listener(tls=pki.server),
        Listener(tls=pki.other_name),
        Listener(tls=pki.server, require_certificate=True),
    ]
    broker = Broker(tmp_path, listeners=listeners, password_file=passwords)
    broker.start()
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "good").write_text(GOOD + "\n")
    (secrets / "wrong").write_text(WRONG + "\n")
    yield SecureBroker(broker, pki, *(li.port for li in listeners), secrets=secrets)
    broker.stop()
