"""The ``[mqtt]`` section of the device configuration: a pydantic model in the configuration's one
idiom (``edge.fields``), validated with the rest of the file by ``edge.config.load_config``.

Every key is checked (type, range, files that must exist, rules across keys) and an error names the
key (``mqtt.tls.ca_file``), the value and where it came from. Nested tables (``[mqtt.tls]``,
``[mqtt.auth]``, ``[mqtt.qos]``, ``[mqtt.rate]``, ``[mqtt.discovery]``) may also be written flat as
``tls_ca_file = ...``; that is how ``EMOTION_EDGE_MQTT_TLS_CA_FILE`` reaches us from the environment.
``MqttConfig.from_dict(table)`` validates a table on its own (``emotion-edge watch``, tests).

Passwords are never part of the configuration: ``mqtt.auth.password_file`` names a file that holds
it, or ``mqtt.auth.password_env`` names an environment variable; the value is read only when the
client connects and never logged. docs/mqtt.md lists every key with its default.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edge.fields import ConfigError as ConfigError
from edge.fields import Layers, Rule, Section

MqttConfigError = ConfigError  # the one configuration error (the name kept for callers)

PROTOCOLS = ("3.1.1", "5")
DEFAULT_BASE = "emotion-edge"
PLAIN_PORT = 1883
TLS_PORT = 8883

# A topic level may not hold the wildcards or the separator; we also refuse whitespace and a
# leading "$" (reserved for broker topics such as $SYS), which only cause confusion downstream.
_BAD_LEVEL = re.compile(r"[/+#\s\x00]")
# MQTT (3.1.1 section 1.5.3, 5.0 section 1.5.4) sends a topic and a client id as UTF-8 of at most
# 65535 bytes, without U+0000, and says control characters SHOULD NOT appear: a broker may drop the
# connection over them (Mosquitto does), which the device could only report as a refused connection.
MQTT_STRING_BYTES = 65535
# Room left for what follows <base>/<device_id> or <prefix>/<component>/<device_id> in a topic.
TOPIC_SUFFIX_BYTES = 100
# Brokers must accept client ids of 1-23 characters of 0-9a-zA-Z and may accept more: Mosquitto takes
# up to 65535 bytes, AWS IoT Core 128. The device keeps to 128 bytes of printable UTF-8, which every
# broker we know accepts (a longer one was refused and retried for ever).
CLIENT_ID_BYTES = 128
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PASSWORD = (
    "passwords are not accepted in the configuration; put the password in a file only the service can read "
    "and set mqtt.auth.password_file, or set mqtt.auth.password_env to the name of an environment variable "
    "that holds it"
)


def _no_password(where: str) -> Any:
    def refuse(data: Any) -> Any:
        if isinstance(data, Mapping) and "password" in data:
            raise Rule("password", f"{where}.password: {_PASSWORD}")
        return data

    return model_validator(mode="before")(refuse)


class TlsConfig(Section):
    enabled: bool = False
    ca_file: Path | None = Field(None, description="CA certificate(s) of the broker; unset: the system's trusted CAs")
    cert_file: Path | None = Field(None, description="client certificate, for brokers that require one")
    key_file: Path | None = Field(None, description="its private key (unset: the key is inside cert_file)")
    verify_hostname: bool = Field(
        True, description="false only for testing: it lets anyone with a CA-signed cert pose as the broker"
    )

    @model_validator(mode="after")
    def _files(self) -> TlsConfig:
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, key)
            if path is not None:
                if not self.enabled:
                    raise Rule(key, f"mqtt.tls.{key} is set but mqtt.tls.enabled is false; enable TLS or remove it")
                _must_be_file(key, f"mqtt.tls.{key}", path)
        if self.key_file is not None and self.cert_file is None:
            raise Rule(
                "key_file", "mqtt.tls.key_file is set without mqtt.tls.cert_file; a client key needs its certificate"
            )
        return self


class AuthConfig(Section):
    username: str | None = None
    password_file: Path | None = Field(None, description="a file that holds the password (read when connecting)")
    password_env: str | None = Field(None, description="the name of an environment variable that holds the password")

    _refuse_password = _no_password("mqtt.auth")

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "it is not an environment variable name; give the variable's name "
                "(e.g. EMOTION_EDGE_MQTT_PASSWORD), never the password itself"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> AuthConfig:
        if self.password_file is not None and self.password_env is not None:
            raise Rule("password_env", "mqtt.auth: set password_file or password_env, not both")
        if (self.password_file is not None or self.password_env is not None) and not self.username:
            raise Rule(
                "username", "mqtt.auth: a password needs mqtt.auth.username (MQTT sends no password without a user)"
            )
        if self.password_file is not None:
            _must_be_file("password_file", "mqtt.auth.password_file", self.password_file)
        return self

    def password(self) -> str | None:
        """Read the password now, from its file or environment variable (None when neither is set)."""
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"mqtt.auth.password_file: cannot read {self.password_file} ({exc.strerror}); "
                    "it must be readable by the service user"
                ) from exc
            # A trailing newline is what editors and `echo` leave behind, never part of the password.
            return text.rstrip("\r\n")
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"mqtt.auth.password_env: the environment variable {self.password_env} is not set; "
                    "set it in the service's environment (e.g. a systemd EnvironmentFile)"
                )
            return value
        return None


class QosConfig(Section):
    """QoS per topic. State topics use 1 so that the latest state reaches the broker even over a
    flaky link; streams use 0 because the next message supersedes a lost one and retransmitting
    stale frames only adds load and latency."""

    availability: int = Field(1, ge=0, le=2)
    emotion: int = Field(1, ge=0, le=2)
    presence: int = Field(1, ge=0, le=2)
    faces: int = Field(0, ge=0, le=2)
    stats: int = Field(0, ge=0, le=2)
    discovery: int = Field(1, ge=0, le=2)


class RateConfig(Section):
    faces_interval_ms: int = Field(
        500, ge=0, le=3_600_000, description="faces without a change: at most one message per interval"
    )
    faces_min_interval_ms: int = Field(
        100, ge=0, le=3_600_000, description="faces on a change (emotion, faces coming or going): never more often"
    )
    emotion_none_after_s: float = Field(
        3.0, ge=0, le=86_400, description="emotion is 'none' once no face was seen this long (brief misses do not flap)"
    )
    stats_interval_s: float = Field(
        10.0, ge=0.1, le=86_400, description="at most one stats message per interval (at least 0.1 s)"
    )
    presence_interval_s: float = Field(
        5.0,
        gt=0,
        le=86_400,
        description="presence (Home Assistant's faces, occupancy, emotion attributes): while a face is in view, "
        "its score and id are refreshed at most this often; changes go out at once",
    )

    @model_validator(mode="after")
    def _order(self) -> RateConfig:
        if self.faces_min_interval_ms > self.faces_interval_ms:
            raise Rule(
                "faces_min_interval_ms",
                f"mqtt.rate.faces_min_interval_ms={self.faces_min_interval_ms} is above "
                f"mqtt.rate.faces_interval_ms={self.faces_interval_ms}; changes must be allowed at least as often "
                "as the steady updates",
            )
        return self


class DiscoveryConfig(Section):
    enabled: bool = Field(True, description="publish Home Assistant discovery configs")
    prefix: str = "homeassistant"

    @field_validator("prefix")
    @classmethod
    def _level(cls, value: str) -> str:
        return _level(value)


class MqttConfig(Section):
    enabled: bool = Field(True, description="false: the device publishes nothing (no MQTT at all)")
    host: str = "localhost"
    port: int | None = Field(None, ge=1, le=65535, description="unset: 1883, or 8883 with TLS")
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: int = Field(30, ge=1, le=65535)
    client_id: str | None = Field(None, description="unset: emotion-edge-<device_id>, stable across restarts")
    clean_start: bool = True
    session_expiry_s: int = Field(3600, ge=0, le=4_294_967_295, description="MQTT 5 with clean_start = false")
    base: str = Field(DEFAULT_BASE, description="first topic level(s): <base>/<device_id>/...")
    device_id: str | None = Field(None, description="unset: this machine's host name")
    connect_timeout_s: float = Field(10.0, gt=0, le=600)
    reconnect_min_s: float = Field(0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(4.0, gt=0, le=3600)
    queue_size: int = Field(100, ge=1, le=1_000_000, description="non-retained messages waiting; oldest dropped")
    max_inflight: int = Field(20, ge=1, le=65535)
    flush_timeout_s: float = Field(2.0, ge=0, le=600)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    qos: QosConfig = Field(default_factory=QosConfig)
    rate: RateConfig = Field(default_factory=RateConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)

    _refuse_password = _no_password("mqtt")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("it is empty; give the broker's host name or address")
        return value

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        problem = base_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str | None) -> str | None:
        return None if value is None else _level(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("it is empty; leave it out to use emotion-edge-<device_id>")
        problem = None if value is None else client_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _lengths(self) -> MqttConfig:
        if self.client_id is None and self.device_id is not None and client_id_problem(self.resolved_client_id):
            raise Rule(
                "device_id",
                f"mqtt.device_id is {_utf8_len(self.device_id)} bytes long: the client id emotion-edge-<device_id> "
                f"would pass MQTT brokers' {CLIENT_ID_BYTES}-byte bound; shorten it or set mqtt.client_id",
            )
        room = MQTT_STRING_BYTES - TOPIC_SUFFIX_BYTES
        device = _utf8_len(self.resolved_device_id)
        for key, head in (("base", self.base), ("discovery.prefix", self.discovery.prefix)):
            if _utf8_len(head) + device > room:
                raise Rule(
                    "device_id" if device > _utf8_len(head) else key,
                    f"mqtt.{key} and mqtt.device_id make topics longer than MQTT's {MQTT_STRING_BYTES} bytes; "
                    "shorten them",
                )
        return self

    @model_validator(mode="after")
    def _waits(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise Rule(
                "reconnect_max_s",
                f"mqtt.reconnect_max_s={self.reconnect_max_s} is below mqtt.reconnect_min_s={self.reconnect_min_s}; "
                "the longest wait must be at least the first",
            )
        return self

    @property
    def resolved_port(self) -> int:
        if self.port is not None:
            return self.port
        return TLS_PORT if self.tls.enabled else PLAIN_PORT

    @property
    def resolved_device_id(self) -> str:
        return self.device_id if self.device_id is not None else default_device_id()

    @property
    def resolved_client_id(self) -> str:
        return self.client_id if self.client_id else f"emotion-edge-{self.resolved_device_id}"

    @classmethod
    def from_dict(
        cls, table: Mapping[str, Any] | None = None, base_dir: Path | None = None, origin: str = "configuration"
    ) -> MqttConfig:
        """Validate an ``[mqtt]`` table on its own. Relative file paths are taken relative to
        ``base_dir`` (the config file's folder), or to the working directory when it is None."""
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise ConfigError(f"[mqtt] must be a table of keys, got {table!r}")
        return Layers().add(cls, table, origin, base_dir).validate(cls, at=("mqtt",))


def default_device_id() -> str:
    """The host name, made safe for a topic level."""
    name = _BAD_LEVEL.sub("-", socket.gethostname().strip()).lstrip("$")
    return name or "device"


def level_problem(value: str) -> str | None:
    """What is wrong with ``value`` as one topic level (None: nothing)."""
    if not value:
        return "it is empty"
    if _BAD_LEVEL.search(value) or value.startswith("$"):
        return "it cannot be a topic level: it may not contain '/', '+', '#' or whitespace, nor start with '$'"
    return _string_problem(value, MQTT_STRING_BYTES - TOPIC_SUFFIX_BYTES, "a topic")


def client_id_problem(value: str) -> str | None:
    """What is wrong with ``value`` as an MQTT client id (None: nothing)."""
    return _string_problem(value, CLIENT_ID_BYTES, "a client id (the bound every broker accepts)")


def _string_problem(value: str, limit: int, what: str) -> str | None:
    if not value.isprintable():  # control characters (NUL, ESC, DEL...), zero-width and direction marks
        return "it holds control or invisible characters; use letters, digits, '-' and '_'"
    try:
        size = _utf8_len(value)
    except UnicodeEncodeError:  # an environment variable's undecodable bytes
        return "it is not valid UTF-8"
    if size > limit:
        return f"it is {size} bytes of UTF-8, more than {limit} for {what}"
    return None


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def base_problem(value: str) -> str | None:
    """The base may have several levels (``home/emotion-edge``), each a valid level."""
    if not value:
        return f"it is empty; the default is {DEFAULT_BASE!r}"
    if any(not level for level in value.split("/")):
        return "it has an empty level; no leading, trailing or double '/'"
    return next((p for p in map(level_problem, value.split("/")) if p), None)


def _level(value: str) -> str:
    problem = level_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_level(name: str, value: str) -> None:
    """One topic level given outside the configuration (a flag): ConfigError naming ``name``."""
    problem = level_problem(value)
    if problem:
        raise ConfigError(f"{name}={value!r}: {problem}")


def check_base(value: str, name: str = "mqtt.base") -> None:
    problem = base_problem(value)
    if problem:
        raise ConfigError(f"{name}={value!r}: {problem}")


def _must_be_file(key: str, name: str, path: Path) -> None:
    if not path.is_file():
        raise Rule(key, f"{name}: {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise Rule(key, f"{name}: {path} is not readable by this user")
