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
    """A device's topics; with ``camera``, a camera's stream (faces, emotion, presence) one level
    below the device (``<base>/<device_id>/<camera>/emotion``), while availability and stats stay
    the device's. A one-camera device has no camera level: today's topics."""

    base: str
    device_id: str
    camera: str | None = None

    def __post_init__(self) -> None:
        check_base(self.base)
        check_level("mqtt.device_id", self.device_id)
        if self.camera is not None:
            check_level("camera name", self.camera)

    @property
    def root(self) -> str:
        return f"{self.base}/{self.device_id}"

    @property
    def stream_root(self) -> str:
        return f"{self.root}/{self.camera}" if self.camera is not None else self.root

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def faces(self) -> str:
        return f"{self.stream_root}/faces"

    @property
    def emotion(self) -> str:
        return f"{self.stream_root}/emotion"

    @property
    def stats(self) -> str:
        return f"{self.root}/stats"

    @property
    def presence(self) -> str:
        return f"{self.stream_root}/presence"

    def for_camera(self, camera: str) -> Topics:
        return Topics(self.base, self.device_id, camera)

    @property
    def retained(self) -> tuple[str, ...]:
        """Every topic the device (or this camera's stream) leaves a retained message on."""
        return (self.availability, self.emotion, self.presence)


CAMERA_KINDS = ("faces", "emotion", "presence")  # a camera's stream on a several-camera device


def subscription(base: str, device_id: str | None = None) -> str:
    """The filter a subscriber uses for one device, or for every device under ``base``."""
    return f"{base}/{device_id if device_id else '+'}/+"


def camera_subscription(base: str, device_id: str | None = None) -> str:
    """The filter for the cameras' streams of one several-camera device, or of every device."""
    return f"{base}/{device_id if device_id else '+'}/+/+"


def parse(base: str, topic: str) -> tuple[str, str] | None:
    """``(device_id, kind)`` of one of our topics under ``base`` (``device_id/camera`` for a
    camera's stream), or None for anything else."""
    prefix = base + "/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :].split("/")
    if len(rest) == 3 and all(rest) and rest[2] in CAMERA_KINDS:
        return f"{rest[0]}/{rest[1]}", rest[2]
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
