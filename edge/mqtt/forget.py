"""``emotion-edge mqtt forget``: remove a device from Home Assistant and the broker.

Home Assistant keeps a device for as long as its retained discovery configs stay on the broker, so a
device that is gone (uninstalled, renamed by a new ``device_id``, a demo run against a real broker)
would stay there forever, unavailable. An empty retained message on each config topic deletes the
entity (and the device with its last entity) and clears the retained message; the device's retained
state (availability, emotion, presence) is cleared the same way. A running device announces itself
again on its next connect, so stop it first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from edge.mqtt.config import MqttConfig
from edge.mqtt.discovery import forget_messages
from edge.mqtt.outbox import Outbox
from edge.mqtt.topics import Topics
from edge.mqtt.untrusted import Unusable, clean, field, parse_json

log = logging.getLogger("edge.mqtt")


class ForgetError(RuntimeError):
    """The broker could not be reached, or did not take every message in time."""


@dataclass(frozen=True)
class Forgotten:
    device_id: str
    topics: list[str]


def forget(
    config: MqttConfig,
    device_id: str,
    prefix: str | None = None,
    timeout_s: float = 10.0,
    cameras: Sequence[str] = (),
) -> Forgotten:
    """Publish the empty retained messages for ``device_id`` (configs under ``prefix``, default the
    configuration's discovery prefix; ``cameras``: a several-camera device's cameras too) and wait
    until the broker has acknowledged them all."""
    from edge.mqtt.client.link import Link  # paho loads only when the command runs

    topics = Topics(config.base, device_id)
    messages = forget_messages(prefix or config.discovery.prefix, topics, qos=1, cameras=cameras)
    outbox = Outbox(1)
    for message in messages:
        outbox.put(message)  # retained: state, each on its own topic, never dropped
    connected = threading.Event()
    link = Link(
        config,
        f"emotion-edge-forget-{os.getpid()}-{time.monotonic_ns() % 100_000}",
        outbox=outbox,
        on_connected=connected.set,
        name="mqtt-forget",
    )
    link.start()
    end = time.monotonic() + timeout_s
    while not connected.wait(0.1):
        failure = link.last_failure
        if time.monotonic() >= end or (failure is not None and failure.permanent):
            link.stop(0.0)
            why = failure.message if failure is not None else "no answer"
            raise ForgetError(
                f"could not reach the broker at {config.host}:{config.resolved_port} within {timeout_s:g} s ({why})"
            )
    unsent = link.stop(max(0.5, end - time.monotonic()))
    if unsent:
        raise ForgetError(f"the broker did not acknowledge {unsent} of {len(messages)} messages in time; run it again")
    return Forgotten(device_id, [m.topic for m in messages])


@dataclass
class Announced:
    """An emotion-edge device whose Home Assistant discovery the broker holds."""

    device_id: str
    base: str
    node: str
    name: str
    model: str
    entities: int
    status: str = "?"  # its retained availability: online, offline, or ? when there is none


def _collect(config: MqttConfig, topics: list[str], timeout_s: float, quiet_s: float = 0.5) -> dict[str, bytes]:
    """The retained messages on ``topics`` (filters): what the broker hands a new subscriber."""
    from edge.mqtt.client.link import Link

    got: dict[str, bytes] = {}
    last = [time.monotonic()]
    lock = threading.Lock()
    connected = threading.Event()

    def on_message(topic: str, payload: bytes, retain: bool) -> None:
        if retain:
            with lock:
                got[topic] = payload
                last[0] = time.monotonic()

    link = Link(
        config,
        f"emotion-edge-devices-{os.getpid()}-{time.monotonic_ns() % 100_000}",
        subscriptions=[(t, 1) for t in topics],
        on_connected=connected.set,
        on_message=on_message,
        name="mqtt-devices",
    )
    link.start()
    try:
        end = time.monotonic() + timeout_s
        while not connected.wait(0.1):
            failure = link.last_failure
            if time.monotonic() >= end or (failure is not None and failure.permanent):
                why = failure.message if failure is not None else "no answer"
                raise ForgetError(
                    f"could not reach the broker at {config.host}:{config.resolved_port} within {timeout_s:g} s ({why})"
                )
        last[0] = time.monotonic()
        # Retained messages come at once after the subscription; stop once they have stopped coming.
        while time.monotonic() < end and time.monotonic() - last[0] < quiet_s:
            time.sleep(0.05)
    finally:
        link.stop(0.0)
    with lock:
        return dict(got)


@dataclass
class Announcements:
    """What ``mqtt devices`` found: the devices, and the retained configs it could not use (anyone
    may publish under the discovery prefix: a malformed one is counted and named, never fatal)."""

    devices: list[Announced]
    skipped: int = 0
    first_skipped: str | None = None  # "topic: why", cleaned and cut, for the one line that says so
    left_out: int = 0  # devices past MAX_LISTED


MAX_LISTED = 1000  # devices listed (and availability topics subscribed to); more is not a house


def _device_from(payload: object) -> tuple[str, str, str, str] | str:
    """(availability topic, device id, name, model) from an emotion-edge discovery config; a string
    saying why when it claims to be ours and is malformed; "" when it is someone else's."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    if field(payload.get("origin"), "name") != "emotion-edge":
        return ""  # another integration's config: not ours to judge
    availability = payload.get("availability_topic")
    if not isinstance(availability, str) or not availability:
        return "no availability_topic"
    levels = availability.split("/")
    if len(levels) < 3 or levels[-1] != "availability" or any(c in availability for c in "+#\0"):
        return "availability_topic is not <base>/<device>/availability"
    device = payload.get("device")
    if device is not None and not isinstance(device, dict):
        return "device is not an object"
    model = f"{field(device, 'model') or ''} {field(device, 'model_id') or ''}".strip()
    return availability, levels[-2], str(field(device, "name") or ""), model


def announced_devices(config: MqttConfig, prefix: str | None = None, timeout_s: float = 10.0) -> Announcements:
    """Every emotion-edge device with discovery configs under ``prefix``, with its availability. The
    retained payloads are untrusted (``edge.mqtt.untrusted``): parsed within its limits, their
    strings cleaned for the terminal, malformed ones counted and skipped."""
    from edge.mqtt.topics import ha_configs

    configs = _collect(config, [ha_configs(prefix or config.discovery.prefix)], timeout_s)
    found = Announcements([])
    devices: dict[str, Announced] = {}
    for topic, raw in sorted(configs.items()):
        if not raw:
            continue  # an empty retained message is a deletion, not a config
        try:
            got = _device_from(parse_json(raw))
        except Unusable as exc:
            got = str(exc)
        if isinstance(got, str):
            if got:
                found.skipped += 1
                found.first_skipped = found.first_skipped or f"{clean(topic, 120)}: {clean(got, 120)}"
            continue
        availability, device_id, name, model = got
        if availability not in devices:
            if len(devices) >= MAX_LISTED:
                found.left_out += 1
                continue
            devices[availability] = Announced(
                device_id=clean(device_id, None),
                base=clean("/".join(availability.split("/")[:-2]), None),
                node=clean(topic.split("/")[-3], None),
                name=clean(name, None),
                model=clean(model, None),
                entities=0,
            )
        devices[availability].entities += 1
    if devices:
        states = _collect(config, list(devices), timeout_s)
        for topic, announced in devices.items():
            if topic in states:
                announced.status = clean(states[topic][:64].decode("utf-8", "replace").strip(), 16) or "?"
    found.devices = sorted(devices.values(), key=lambda d: (d.base, d.device_id))
    return found
