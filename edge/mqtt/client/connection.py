"""Building the paho client from the configuration, and saying in words why a connection failed.

paho-mqtt 2.x with the VERSION2 callback API. TLS uses Python's default context (TLS 1.2 or newer,
certificate verification on), with the configured CA file or the system's CAs.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.mqtt.config import ConfigError, MqttConfig
from edge.mqtt.outbox import Message


@dataclass(frozen=True)
class Failure:
    """Why connecting failed. ``permanent``: retrying with the same configuration will not help
    (bad credentials, an untrusted certificate), so a person has to act."""

    message: str
    permanent: bool = False


def new_client(config: MqttConfig, client_id: str, will: Message | None = None) -> mqtt.Client:
    """A configured, unconnected client. Reads the password (from its file or variable) now."""
    v5 = config.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        # MQTT 5 takes clean start per connect (see connect); 3.1.1 fixes it per client.
        clean_session=None if v5 else config.clean_start,
    )
    client.connect_timeout = config.connect_timeout_s
    client.max_inflight_messages_set(config.max_inflight)
    if config.tls.enabled:
        client.tls_set_context(tls_context(config))
        client.tls_insecure_set(not config.tls.verify_hostname)
    if config.auth.username:
        client.username_pw_set(config.auth.username, config.auth.password())
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    return client


def connect(client: mqtt.Client, config: MqttConfig) -> None:
    """Open the connection and send CONNECT (blocking for at most the connect timeout)."""
    host, port, keepalive = config.host, config.resolved_port, config.keepalive_s
    if config.protocol != "5":
        client.connect(host, port, keepalive)
        return
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    # With clean start the session ends with the connection; without, the broker keeps our
    # subscriptions and unacknowledged messages for session_expiry_s while we are away.
    props.SessionExpiryInterval = 0 if config.clean_start else config.session_expiry_s
    client.connect(host, port, keepalive, clean_start=config.clean_start, properties=props)


def tls_context(config: MqttConfig) -> ssl.SSLContext:
    t = config.tls
    try:
        context = ssl.create_default_context(cafile=str(t.ca_file) if t.ca_file else None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"mqtt.tls.ca_file: {t.ca_file} is not a usable PEM CA certificate ({exc})") from exc
    context.check_hostname = t.verify_hostname
    if t.cert_file is not None:
        try:
            context.load_cert_chain(str(t.cert_file), str(t.key_file) if t.key_file else None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"mqtt.tls.cert_file/key_file: cannot load the client certificate {t.cert_file} "
                f"with key {t.key_file or '(inside the certificate file)'} ({exc}); both must be PEM and match"
            ) from exc
    return context


@dataclass(frozen=True)
class Endpoint:
    """What a failure message needs to know about the connection it describes."""

    host: str
    port: int
    client_id: str
    protocol: str
    tls: bool
    client_cert: bool
    credentials: bool
    connect_timeout_s: float
    keepalive_s: int

    @classmethod
    def of(cls, config: MqttConfig, client_id: str) -> Endpoint:
        return cls(
            host=config.host,
            port=config.resolved_port,
            client_id=client_id,
            protocol=config.protocol,
            tls=config.tls.enabled,
            client_cert=config.tls.cert_file is not None,
            credentials=bool(config.auth.username),
            connect_timeout_s=config.connect_timeout_s,
            keepalive_s=config.keepalive_s,
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNEXPECTED_EOF", "EOF OCCURRED")


def describe_exception(exc: BaseException, ep: Endpoint) -> Failure:
    """The failure of a connection attempt (TCP connect or TLS handshake), in words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or str(exc)
        if "mismatch" in detail.lower():
            return Failure(
                f"TLS: the broker's certificate does not match the host name {ep.host!r} ({detail}); connect by "
                "a name the certificate lists, or set tls.verify_hostname = false for testing only",
                permanent=True,
            )
        return Failure(
            f"TLS: the broker's certificate at {ep} is not trusted ({detail}); point tls.ca_file at the CA "
            "that signed it",
            permanent=True,
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if any(mark in reason.upper() for mark in _NOT_TLS):
            return Failure(f"TLS handshake with {ep} failed ({reason}): is that port a TLS listener?")
        if "CERTIFICATE" in reason.upper():
            return _client_cert_refused(ep, reason)
        return Failure(f"TLS handshake with {ep} failed: {reason}")
    if isinstance(exc, ConnectionResetError) and ep.tls:
        return Failure(f"{ep} reset the connection during the TLS handshake: is that port a TLS listener?")
    if isinstance(exc, ConnectionRefusedError):
        return Failure(f"connection refused by {ep}: is the broker running and listening on that port?")
    if isinstance(exc, socket.gaierror):
        return Failure(f"cannot resolve the broker's host name {ep.host!r} ({exc.strerror})")
    if isinstance(exc, TimeoutError):
        return Failure(f"no answer from {ep} within {ep.connect_timeout_s:g} s")
    if isinstance(exc, OSError):
        return Failure(f"cannot connect to {ep}: {exc.strerror or exc}")
    if isinstance(exc, ValueError):
        return Failure(f"cannot connect to {ep}: {exc}", permanent=True)
    return Failure(f"cannot connect to {ep}: {type(exc).__name__}: {exc}")


def describe_early_close(detail: str, ep: Endpoint) -> Failure:
    """The connection ended before the broker accepted it. ``detail`` is paho's last error (a TLS
    alert, say) or the disconnect reason."""
    if detail == "Keep alive timeout":
        return Failure(f"{ep} took the connection but did not answer within {ep.keepalive_s} s")
    upper = detail.upper()
    if "CERTIFICATE" in upper:
        return _client_cert_refused(ep, detail)
    if ep.tls and not ep.client_cert and ("EOF" in upper or "SSL" in upper):
        # Brokers that require a client certificate often just close the TLS connection.
        return Failure(
            f"the broker at {ep} closed the TLS connection before accepting it ({detail}); if it requires a "
            "client certificate, set tls.cert_file and tls.key_file"
        )
    hint = "does it expect TLS?" if not ep.tls else "does it expect credentials or a client certificate?"
    return Failure(f"the broker at {ep} closed the connection before accepting it ({detail}); {hint}")


def _client_cert_refused(ep: Endpoint, detail: str) -> Failure:
    return Failure(
        f"the broker at {ep} did not accept our TLS client certificate ({detail}); set tls.cert_file and "
        "tls.key_file to a certificate signed by a CA the broker trusts",
        permanent=True,
    )


# CONNACK reason codes (MQTT 5 numbering; paho maps 3.1.1 return codes onto these).
_BAD_CREDENTIALS = 0x86
_NOT_AUTHORIZED = 0x87
_BAD_CLIENT_ID = 0x85
_BAD_PROTOCOL = 0x84
_BANNED = 0x8A


def describe_refusal(reason: ReasonCode, ep: Endpoint) -> Failure:
    """The broker answered CONNECT with a refusal."""
    code = reason.value
    if code in (_BAD_CREDENTIALS, _NOT_AUTHORIZED):
        if ep.credentials:
            advice = (
                "check the user name and the password in its file or environment variable (and the broker's "
                "access rules for that user)"
            )
        else:
            advice = "it wants credentials: set auth.username with auth.password_file or auth.password_env"
        what = "bad user name or password" if code == _BAD_CREDENTIALS else "not authorized"
        return Failure(f"the broker at {ep} refused the connection: {what}; {advice}", permanent=True)
    if code == _BAD_CLIENT_ID:
        return Failure(f"the broker at {ep} rejected the client id {ep.client_id!r}; set client_id", True)
    if code == _BAD_PROTOCOL:
        return Failure(f"the broker at {ep} does not speak MQTT {ep.protocol}; set protocol", True)
    if code == _BANNED:
        return Failure(f"the broker at {ep} has banned this client ({ep.client_id!r})", True)
    return Failure(f"the broker at {ep} refused the connection: {reason}")
