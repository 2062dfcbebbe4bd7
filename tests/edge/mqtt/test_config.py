"""The [mqtt] table: defaults, validation that names the key, and the password rule."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge.mqtt.config import ConfigError, MqttConfig


def test_an_empty_table_gives_working_defaults() -> None:
    c = MqttConfig.from_dict({})
    assert (c.host, c.resolved_port, c.protocol, c.base) == ("localhost", 1883, "3.1.1", "emotion-edge")
    assert c.resolved_device_id  # the host name, made safe for a topic level
    assert c.resolved_client_id == f"emotion-edge-{c.resolved_device_id}"
    assert (c.qos.availability, c.qos.emotion, c.qos.faces, c.qos.stats, c.qos.discovery) == (1, 1, 0, 0, 1)
    assert c.discovery.enabled and c.discovery.prefix == "homeassistant"
    assert c.clean_start is True


def test_device_id_defaults_to_the_host_name() -> None:
    host = socket.gethostname()
    if any(ch in host for ch in "/+# $"):
        pytest.skip("this host name is not a valid topic level as it is")
    assert MqttConfig.from_dict({}).resolved_device_id == host


def test_tls_changes_the_default_port_to_8883() -> None:
    assert MqttConfig.from_dict({"tls": {"enabled": True}}).resolved_port == 8883
    assert MqttConfig.from_dict({"tls": {"enabled": True}, "port": 9000}).resolved_port == 9000


def test_the_client_id_is_stable_and_can_be_set() -> None:
    assert MqttConfig.from_dict({"device_id": "hall"}).resolved_client_id == "emotion-edge-hall"
    assert MqttConfig.from_dict({"client_id": "mine"}).resolved_client_id == "mine"


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ({"prot": "5"}, "mqtt.prot"),
        ({"protocol": "4"}, "mqtt.protocol"),
        ({"port": 70000}, "mqtt.port"),
        ({"port": "1883x"}, "mqtt.port"),
        ({"keepalive_s": True}, "mqtt.keepalive_s"),
        ({"qos": {"faces": 3}}, "mqtt.qos.faces"),
        ({"qos": {"face": 1}}, "mqtt.qos.face"),
        ({"rate": {"faces_interval_ms": 100, "faces_min_interval_ms": 200}}, "mqtt.rate.faces_min_interval_ms"),
        ({"rate": {"stats_interval_s": 0}}, "mqtt.rate.stats_interval_s"),
        ({"device_id": "a/b"}, "mqtt.device_id"),
        ({"device_id": "cam+1"}, "mqtt.device_id"),
        ({"base": "home//x"}, "mqtt.base"),
        ({"base": "#"}, "mqtt.base"),
        ({"reconnect_min_s": 5, "reconnect_max_s": 1}, "mqtt.reconnect_max_s"),
        ({"queue_size": 0}, "mqtt.queue_size"),
        ({"tls": {"enabled": True, "ca_file": "/nonexistent/ca.crt"}}, "mqtt.tls.ca_file"),
        ({"tls": {"ca_file": "/etc/hostname"}}, "mqtt.tls.ca_file"),
        ({"auth": {"password_env": "X"}}, "mqtt.auth"),
        ({"auth": {"username": "u", "password_env": "not a name"}}, "mqtt.auth.password_env"),
        ({"auth": {"username": "u", "password_file": "/nonexistent"}}, "mqtt.auth.password_file"),
        ({"tls": "yes"}, "mqtt.tls"),
    ],
)
def test_a_wrong_value_is_refused_with_its_key_named(table: dict, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        MqttConfig.from_dict(table)


def test_a_password_in_the_configuration_is_refused_and_the_message_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as err:
        MqttConfig.from_dict({"auth": {"username": "u", "password": "hunter2"}})
    assert "password_file" in str(err.value) and "password_env" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_the_password_comes_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret pass\n")
    c = MqttConfig.from_dict({"auth": {"username": "u", "password_file": str(secret)}})
    assert c.auth.password() == "s3cret pass"
    assert "s3cret" not in repr(c)


def test_the_password_comes_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EE_TEST_PW", "from-env")
    c = MqttConfig.from_dict({"auth": {"username": "u", "password_env": "EE_TEST_PW"}})
    assert c.auth.password() == "from-env"
    monkeypatch.delenv("EE_TEST_PW")
    with pytest.raises(ConfigError, match="EE_TEST_PW is not set"):
        c.auth.password()


def test_flat_keys_from_the_environment_fold_into_their_tables(tmp_path: Path) -> None:
    # EMOTION_EDGE_MQTT_TLS_CA_FILE arrives as mqtt.tls_ca_file; it wins over the file's value.
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    c = MqttConfig.from_dict(
        {"tls": {"enabled": True, "ca_file": "/elsewhere"}, "tls_ca_file": str(ca), "qos_faces": 1}
    )
    assert c.tls.ca_file == ca and c.qos.faces == 1


def test_values_typed_as_toml_literals_from_the_environment_are_accepted() -> None:
    c = MqttConfig.from_dict({"protocol": 5, "device_id": 42, "port": 1884.0, "clean_start": "false"})
    assert (c.protocol, c.device_id, c.port, c.clean_start) == ("5", "42", 1884, False)


def test_relative_files_are_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    c = MqttConfig.from_dict({"tls": {"enabled": True, "ca_file": "ca.pem"}}, base_dir=tmp_path)
    assert c.tls.ca_file == tmp_path / "ca.pem"


def test_start_says_which_secret_or_file_cannot_be_used_before_any_connection(tmp_path: Path) -> None:
    from edge.mqtt.client.publisher import MqttPublisher

    def publisher(table: dict) -> MqttPublisher:
        return MqttPublisher(MqttConfig.from_dict({"port": 1, **table}), "m", "1", "onnxruntime", ["happy"])

    with pytest.raises(ConfigError, match="EE_TEST_UNSET_PW is not set"):
        publisher({"auth": {"username": "u", "password_env": "EE_TEST_UNSET_PW"}}).start()
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.ca_file"):
        publisher({"tls": {"enabled": True, "ca_file": str(garbage)}}).start()


# Configuration that MQTT itself can never accept is refused at load, naming the key (#22): a
# control character in a topic level (every connection refused, then logged as "does it expect TLS?"),
# a client id longer than brokers take (retried for ever), topics past MQTT's 65535 bytes.


@pytest.mark.parametrize(
    ("table", "names", "why"),
    [
        ({"device_id": "cam\x01"}, "mqtt.device_id", "control or invisible characters"),
        ({"device_id": "cam\x1b[2J"}, "mqtt.device_id", "control or invisible characters"),
        ({"device_id": "cam\x7f"}, "mqtt.device_id", "control or invisible characters"),
        ({"device_id": "cam\u200b1"}, "mqtt.device_id", "control or invisible characters"),
        ({"device_id": "cam\udcff"}, "mqtt.device_id", "control or invisible characters|not valid UTF-8"),
        ({"base": "home/cam\x00"}, "mqtt.base", "may not contain|control"),
        ({"discovery": {"prefix": "ha\x07"}}, "mqtt.discovery.prefix", "control or invisible characters"),
        ({"client_id": "c" * 70_000}, "mqtt.client_id", "it is 70000 bytes of UTF-8, more than 128 for a client id"),
        ({"client_id": "é" * 65}, "mqtt.client_id", "130 bytes of UTF-8, more than 128"),
        ({"client_id": "id\x00"}, "mqtt.client_id", "control or invisible characters"),
        ({"device_id": "d" * 120}, "mqtt.device_id", "the client id emotion-edge-<device_id> would pass"),
        ({"device_id": "d" * 70_000, "client_id": "x"}, "mqtt.device_id", "more than 65435 for a topic"),
        (
            {"base": "/".join(["b" * 30_000] * 3), "client_id": "x"},
            "mqtt.base",
            "make topics longer than MQTT.s 65535 bytes",
        ),
    ],
)
def test_what_mqtt_can_never_accept_is_refused_naming_the_key(table: dict, names: str, why: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")) as err:
        MqttConfig.from_dict(table)
    assert __import__("re").search(why, str(err.value)), str(err.value)
    assert len(str(err.value)) < 600, "a hostile value is cut, not echoed whole"


def test_a_client_id_of_128_bytes_and_a_device_id_that_fits_it_are_accepted() -> None:
    assert MqttConfig.from_dict({"client_id": "c" * 128}).resolved_client_id == "c" * 128
    assert MqttConfig.from_dict({"device_id": "d" * 115}).resolved_client_id == "emotion-edge-" + "d" * 115
