"""Topic names: ``<base>/<device_id>/<kind>`` for the device's own topics, and Home Assistant's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.mqtt.config import check_base, check_level

KINDS = ("availability", "faces", "emotion", "stats", "presence")
ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True)
class Topics:
    base: str
    device_id: str

    def __post_init__(self) -> None:
        check_base(self.base)
        check_level("mqtt.device_id", self.device_id)

    @property
    def root(self) -> str:
        return f"{self.base}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def faces(self) -> str:
        return f"{self.root}/faces"

    @property
    def emotion(self) -> str:
        return f"{self.root}/emotion"

    @property
    def stats(self) -> str:
        return f"{self.root}/stats"

    @property
    def presence(self) -> str:
        return f"{self.root}/presence"

    @property
    def retained(self) -> tuple[str, ...]:
        """Every topic the device leaves a retained message on."""
        return (self.availability, self.emotion, self.presence)


def subscription(base: str, device_id: str | None = None) -> str:
    """The filter a subscriber uses for one device, or for every device under ``base``."""
    return f"{base}/{device_id if device_id else '+'}/+"


def parse(base: str, topic: str) -> tuple[str, str] | None:
    """``(device_id, kind)`` of one of our topics under ``base``, or None for anything else."""
    prefix = base + "/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :].split("/")
    if len(rest) != 2 or rest[1] not in KINDS or not rest[0]:
        return None
    return rest[0], rest[1]


_NOT_HA_ID = re.compile(r"[^a-zA-Z0-9_-]")


def ha_object_id(device_id: str) -> str:
    """Home Assistant's node and object ids allow only letters, digits, '_' and '-'."""
    return _NOT_HA_ID.sub("_", device_id)


def ha_status(prefix: str) -> str:
    """Where Home Assistant announces itself ("online") after it starts."""
    return f"{prefix}/status"


def ha_config(prefix: str, component: str, device_id: str, object_id: str) -> str:
    return f"{prefix}/{component}/{ha_object_id(device_id)}/{object_id}/config"


def ha_configs(prefix: str, device_id: str | None = None) -> str:
    """The filter for the discovery configs of one device (every component), or of every device."""
    return f"{prefix}/+/{ha_object_id(device_id) if device_id else '+'}/+/config"
