"""The ``[mqtt]`` table of the device configuration, validated in one place.

``MqttConfig.from_dict(table)`` checks every key (type, range, files that must exist) and raises
``MqttConfigError`` naming the key, e.g. ``mqtt.tls.ca_file``. Nested tables (``[mqtt.tls]``,
``[mqtt.auth]``, ``[mqtt.qos]``, ``[mqtt.rate]``, ``[mqtt.discovery]``) may also be written flat as
``tls_ca_file = ...``; that is how ``EMOTION_EDGE_MQTT_TLS_CA_FILE`` reaches us from the environment.

Passwords are never part of the configuration: ``mqtt.auth.password_file`` names a file that holds
it, or ``mqtt.auth.password_env`` names an environment variable; the value is read only when the
client connects and never logged. docs/mqtt.md lists every key with its default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.fields import check_limits, choices, coerce, limits

PROTOCOLS = ("3.1.1", "5")
DEFAULT_BASE = "emotion-edge"
PLAIN_PORT = 1883
TLS_PORT = 8883

# A topic level may not hold the wildcards or the separator; we also refuse whitespace and a
# leading "$" (reserved for broker topics such as $SYS), which only cause confusion downstream.
_BAD_LEVEL = re.compile(r"[/+#\s\x00]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MqttConfigError(ValueError):
    """A value of the ``[mqtt]`` table is wrong; the message names the key and what is allowed."""


def _qos() -> Any:
    return limits(0, 2)


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = False
    ca_file: Path | None = None  # None: the system's trusted CAs
    cert_file: Path | None = None  # client certificate, for brokers that require one
    key_file: Path | None = None  # its private key (None: the key is inside cert_file)
    verify_hostname: bool = True  # false only for testing: it lets anyone with a CA-signed cert pose as the broker


@dataclass(frozen=True)
class AuthConfig:
    username: str | None = None
    password_file: Path | None = None
    password_env: str | None = None

    def password(self) -> str | None:
        """Read the password now, from its file or environment variable (None when neither is set)."""
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise MqttConfigError(
                    f"mqtt.auth.password_file: cannot read {self.password_file} ({exc.strerror}); "
                    "it must be readable by the service user"
                ) from exc
            # A trailing newline is what editors and `echo` leave behind, never part of the password.
            return text.rstrip("\r\n")
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise MqttConfigError(
                    f"mqtt.auth.password_env: the environment variable {self.password_env} is not set; "
                    "set it in the service's environment (e.g. a systemd EnvironmentFile)"
                )
            return value
        return None


@dataclass(frozen=True)
class QosConfig:
    """QoS per topic. State topics use 1 so that the latest state reaches the broker even over a
    flaky link; streams use 0 because the next message supersedes a lost one and retransmitting
    stale frames only adds load and latency."""

    availability: int = field(default=1, metadata=_qos())
    emotion: int = field(default=1, metadata=_qos())
    faces: int = field(default=0, metadata=_qos())
    stats: int = field(default=0, metadata=_qos())
    discovery: int = field(default=1, metadata=_qos())


@dataclass(frozen=True)
class RateConfig:
    # faces: publish at once on a change (emotion, faces appearing or leaving), but never more often
    # than faces_min_interval_ms; without a change, at most every faces_interval_ms.
    faces_interval_ms: int = field(default=500, metadata=limits(0, 3_600_000))
    faces_min_interval_ms: int = field(default=100, metadata=limits(0, 3_600_000))
    # emotion: "none" once no face has been seen for this long; brief misses do not flap the state.
    emotion_none_after_s: float = field(default=3.0, metadata=limits(0, 86_400))
    # stats: at most one message per interval (the frame loop reports on its own schedule).
    stats_interval_s: float = field(default=10.0, metadata=limits(0, 86_400, low_open=True))


@dataclass(frozen=True)
class DiscoveryConfig:
    enabled: bool = True
    prefix: str = "homeassistant"


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = True
    host: str = "localhost"
    port: int | None = field(default=None, metadata=limits(1, 65535))  # None: 1883, or 8883 with TLS
    protocol: str = field(default="3.1.1", metadata=choices(*PROTOCOLS))
    keepalive_s: int = field(default=30, metadata=limits(1, 65535))
    client_id: str | None = None  # None: emotion-edge-<device_id>, stable across restarts
    clean_start: bool = True
    session_expiry_s: int = field(default=3600, metadata=limits(0, 4_294_967_295))  # MQTT 5, clean_start=false
    base: str = DEFAULT_BASE
    device_id: str | None = None  # None: this machine's host name
    connect_timeout_s: float = field(default=10.0, metadata=limits(0, 600, low_open=True))
    reconnect_min_s: float = field(default=0.5, metadata=limits(0, 3600, low_open=True))
    reconnect_max_s: float = field(default=4.0, metadata=limits(0, 3600, low_open=True))
    queue_size: int = field(default=100, metadata=limits(1, 1_000_000))
    max_inflight: int = field(default=20, metadata=limits(1, 65535))
    flush_timeout_s: float = field(default=2.0, metadata=limits(0, 600))
    tls: TlsConfig = field(default_factory=TlsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    rate: RateConfig = field(default_factory=RateConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)

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
    def from_dict(cls, table: Mapping[str, Any] | None = None, base_dir: Path | None = None) -> MqttConfig:
        """Validate the ``[mqtt]`` table. Relative file paths are taken relative to ``base_dir``
        (the config file's folder), or to the working directory when it is None."""
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise MqttConfigError(f"[mqtt] must be a table of keys, got {table!r}")
        config: MqttConfig = _build(cls, _unflatten(table), "mqtt", base_dir)
        _check(config)
        return config


def default_device_id() -> str:
    """The host name, made safe for a topic level."""
    name = _BAD_LEVEL.sub("-", socket.gethostname().strip()).lstrip("$")
    return name or "device"


_NESTED = ("tls", "auth", "qos", "rate", "discovery")


def _unflatten(table: Mapping[str, Any]) -> dict[str, Any]:
    """Fold ``tls_ca_file = x`` into ``tls = {ca_file = x}``; a flat key wins over the nested one,
    because flat keys come from the environment, which overrides the file."""
    out: dict[str, Any] = {}
    flat: list[tuple[str, str, Any]] = []
    for key, value in table.items():
        prefix = next((n for n in _NESTED if isinstance(key, str) and key.startswith(n + "_")), None)
        if prefix is None:
            out[key] = value
        else:
            flat.append((prefix, key[len(prefix) + 1 :], value))
    for section, key, value in flat:
        sub = out.get(section, {})
        if not isinstance(sub, Mapping):
            raise MqttConfigError(f"mqtt.{section} must be a table of keys, got {sub!r}")
        out[section] = {**sub, key: value}
    return out


def _build(cls: Any, values: Mapping[str, Any], where: str, base_dir: Path | None) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    if cls is AuthConfig and "password" in values:
        raise MqttConfigError(
            f"{where}.password: passwords are not accepted in the configuration; put the password in a "
            f"file only the service can read and set {where}.password_file, or set {where}.password_env "
            "to the name of an environment variable that holds it"
        )
    unknown = sorted(str(k) for k in values if k not in fields)
    if unknown:
        raise MqttConfigError(f"unknown key {where}.{unknown[0]}; keys of [{where}] are: {', '.join(fields)}")
    checked: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{where}.{key}"
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise MqttConfigError(f"{name} must be a table of keys, got {value!r}")
            checked[key] = _build(hint, value, name, base_dir)
            continue
        coerced = coerce(name, value, hint, error=MqttConfigError, base_dir=base_dir)
        check_limits(name, coerced, fields[key].metadata, error=MqttConfigError)
        checked[key] = coerced
    return cls(**checked)


def _check(c: MqttConfig) -> None:
    """Rules that involve more than one key, names, and files that must exist."""
    if not c.host.strip():
        raise MqttConfigError("mqtt.host is empty; give the broker's host name or address")
    check_base(c.base)
    if c.device_id is not None:
        check_level("mqtt.device_id", c.device_id)
    if c.client_id is not None and not c.client_id.strip():
        raise MqttConfigError("mqtt.client_id is empty; leave it out to use emotion-edge-<device_id>")
    check_level("mqtt.discovery.prefix", c.discovery.prefix)
    if c.reconnect_max_s < c.reconnect_min_s:
        raise MqttConfigError(
            f"mqtt.reconnect_max_s={c.reconnect_max_s} is below mqtt.reconnect_min_s={c.reconnect_min_s}; "
            "the longest wait must be at least the first"
        )
    r = c.rate
    if r.faces_min_interval_ms > r.faces_interval_ms:
        raise MqttConfigError(
            f"mqtt.rate.faces_min_interval_ms={r.faces_min_interval_ms} is above "
            f"mqtt.rate.faces_interval_ms={r.faces_interval_ms}; changes must be allowed at least as often "
            "as the steady updates"
        )
    t = c.tls
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(t, key)
        if path is not None:
            if not t.enabled:
                raise MqttConfigError(f"mqtt.tls.{key} is set but mqtt.tls.enabled is false; enable TLS or remove it")
            _must_be_file(f"mqtt.tls.{key}", path)
    if t.key_file is not None and t.cert_file is None:
        raise MqttConfigError("mqtt.tls.key_file is set without mqtt.tls.cert_file; a client key needs its certificate")
    a = c.auth
    if a.password_file is not None and a.password_env is not None:
        raise MqttConfigError("mqtt.auth: set password_file or password_env, not both")
    if (a.password_file is not None or a.password_env is not None) and not a.username:
        raise MqttConfigError("mqtt.auth: a password needs mqtt.auth.username (MQTT sends no password without a user)")
    if a.password_file is not None:
        _must_be_file("mqtt.auth.password_file", a.password_file)
    if a.password_env is not None and not _ENV_NAME.match(a.password_env):
        raise MqttConfigError(
            f"mqtt.auth.password_env={a.password_env!r} is not an environment variable name; "
            "give the variable's name (e.g. EMOTION_EDGE_MQTT_PASSWORD), never the password itself"
        )


def check_level(name: str, value: str) -> None:
    """One topic level: not empty, no wildcard, separator or whitespace, no leading ``$``."""
    if not value:
        raise MqttConfigError(f"{name} is empty")
    if _BAD_LEVEL.search(value) or value.startswith("$"):
        raise MqttConfigError(
            f"{name}={value!r} cannot be a topic level: it may not contain '/', '+', '#' or whitespace, "
            "nor start with '$'"
        )


def check_base(value: str, name: str = "mqtt.base") -> None:
    """The base may have several levels (``home/emotion-edge``), each a valid level."""
    if not value:
        raise MqttConfigError(f"{name} is empty; the default is {DEFAULT_BASE!r}")
    for level in value.split("/"):
        if not level:
            raise MqttConfigError(f"{name}={value!r} has an empty level; no leading, trailing or double '/'")
        check_level(name, level)


def _must_be_file(name: str, path: Path) -> None:
    if not path.is_file():
        raise MqttConfigError(f"{name}: {path} does not exist or is not a file")
    if not os.access(path, os.R_OK):
        raise MqttConfigError(f"{name}: {path} is not readable by this user")
