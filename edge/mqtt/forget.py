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
from dataclasses import dataclass

from edge.mqtt.config import MqttConfig
from edge.mqtt.discovery import forget_messages
from edge.mqtt.outbox import Outbox
from edge.mqtt.topics import Topics

log = logging.getLogger("edge.mqtt")


class ForgetError(RuntimeError):
    """The broker could not be reached, or did not take every message in time."""


@dataclass(frozen=True)
class Forgotten:
    device_id: str
    topics: list[str]


def forget(config: MqttConfig, device_id: str, prefix: str | None = None, timeout_s: float = 10.0) -> Forgotten:
    """Publish the empty retained messages for ``device_id`` (configs under ``prefix``, default the
    configuration's discovery prefix) and wait until the broker has acknowledged them all."""
    from edge.mqtt.client.link import Link  # paho loads only when the command runs

    topics = Topics(config.base, device_id)
    messages = forget_messages(prefix or config.discovery.prefix, topics, qos=1)
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
