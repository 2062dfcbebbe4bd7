"""TLS and authentication against a Mosquitto set up by the test: a throwaway CA and a password file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from edge.mqtt.client.publisher import MqttPublisher
from edge.mqtt.topics import Topics
from tests.edge.mqtt.clients import Subscriber, face, frame, wait_until
from tests.edge.mqtt.conftest import DEVICE, GOOD, NEEDS_SECURE_BROKER, WRONG, SecureBroker

T = Topics("emotion-edge", DEVICE)

pytestmark = NEEDS_SECURE_BROKER


def auth(secure: SecureBroker, which: str = "good") -> dict:
    return {"username": DEVICE, "password_file": str(secure.secrets / which)}


def tls(ca: Path, **more: object) -> dict:
    return {"enabled": True, "ca_file": str(ca), **more}


def failure_of(p: MqttPublisher) -> str:
    wait_until(lambda: p.last_failure is not None, what="a connection failure")
    assert p.last_failure is not None
    assert p.running and not p.connected  # a clear error, no crash: it keeps running and retrying
    p.handle_frame(frame(1, face(1)))  # and the frame loop can still hand it frames
    return p.last_failure.message


def test_good_credentials_over_tls_connect_and_publish(make_publisher, secure: SecureBroker) -> None:
    sub = Subscriber(secure.tls, ca_file=secure.pki.ca, username=DEVICE, password=GOOD).start()
    try:
        p = make_publisher(port=secure.tls, tls=tls(secure.pki.ca), auth=auth(secure))
        wait_until(lambda: p.connected, what="connected over TLS")
        p.handle_frame(frame(1, face(1, "happy")))
        sub.wait_topic(T.availability, "online")
        assert sub.wait_topic(T.emotion).json()["emotion"] == "happy"
    finally:
        sub.stop()


def test_the_password_can_come_from_an_environment_variable(
    make_publisher, secure: SecureBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_TEST_MQTT_PASSWORD", GOOD)
    p = make_publisher(port=secure.plain, auth={"username": DEVICE, "password_env": "EE_TEST_MQTT_PASSWORD"})
    wait_until(lambda: p.connected, what="connected with the password from the environment")


def test_a_wrong_password_gives_a_clear_error_never_logs_the_password_and_does_not_crash(
    make_publisher, secure: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    p = make_publisher(port=secure.plain, auth=auth(secure, "wrong"))
    message = failure_of(p)
    assert "refused the connection" in message and "password" in message and p.last_failure.permanent
    good = make_publisher(port=secure.plain, auth=auth(secure), device_id="cam-2")
    wait_until(lambda: good.connected, what="the good one connected")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert message in logged
    assert WRONG not in logged and GOOD not in logged


def test_no_credentials_on_a_broker_that_wants_them_says_so(make_publisher, secure: SecureBroker) -> None:
    message = failure_of(make_publisher(port=secure.plain))
    assert "not authorized" in message and "auth.username" in message


def test_an_untrusted_broker_certificate_gives_a_clear_error(make_publisher, secure: SecureBroker) -> None:
    p = make_publisher(port=secure.tls, tls=tls(secure.pki.rogue_ca), auth=auth(secure))
    message = failure_of(p)
    assert "not trusted" in message and "ca_file" in message and p.last_failure.permanent


def test_the_host_name_is_verified_unless_switched_off(make_publisher, secure: SecureBroker) -> None:
    strict = make_publisher(port=secure.other_name, tls=tls(secure.pki.ca), auth=auth(secure))
    assert "does not match the host name" in failure_of(strict)
    lax = make_publisher(
        port=secure.other_name, tls=tls(secure.pki.ca, verify_hostname=False), auth=auth(secure), device_id="cam-2"
    )
    wait_until(lambda: lax.connected, what="connected without host name verification")


def test_a_client_certificate_is_sent_when_configured(make_publisher, secure: SecureBroker) -> None:
    without = make_publisher(port=secure.client_cert, tls=tls(secure.pki.ca), auth=auth(secure))
    assert "certificate" in failure_of(without)
    with_cert = make_publisher(
        port=secure.client_cert,
        tls=tls(secure.pki.ca, cert_file=str(secure.pki.client_cert), key_file=str(secure.pki.client_key)),
        auth=auth(secure),
        device_id="cam-2",
    )
    wait_until(lambda: with_cert.connected, what="connected with a client certificate")


def test_plain_mqtt_on_a_tls_port_gives_a_hint(make_publisher, secure: SecureBroker) -> None:
    p = make_publisher(port=secure.tls, auth=auth(secure))
    assert "TLS" in failure_of(p)


def test_tls_on_a_plain_port_gives_a_hint(make_publisher, secure: SecureBroker) -> None:
    p = make_publisher(port=secure.plain, tls=tls(secure.pki.ca), auth=auth(secure))
    started = time.monotonic()
    message = failure_of(p)
    assert "TLS" in message and time.monotonic() - started < 10
