"""Home Assistant MQTT discovery: one device with four sensors (emotion, faces, fps, latency) and two
binary sensors (occupancy, problem); and ``forget``, the empty configs that remove it again.

Each entity's config is a retained message on ``<prefix>/<component>/<node>/<object>/config``.
Every entity is wired to the availability topic, so Home Assistant greys it out when the device
goes offline (cleanly or through the last will). The publisher sends these configs on every
connect and again whenever Home Assistant announces itself on ``<prefix>/status``.

What Home Assistant shows is never stale: emotion, faces and occupancy come from the retained
``presence`` topic (sent on every change, refreshed while a face is in view, and re-sent on every
connect and on Home Assistant's birth message); the diagnostics (fps, latency, problem) from
``stats``, whose latest message is re-sent on Home Assistant's birth message.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import __version__
from edge.mqtt.outbox import Message
from edge.mqtt.payloads import encode
from edge.mqtt.policy import NONE_EMOTION
from edge.mqtt.topics import OFFLINE, ONLINE, Topics, ha_config, ha_object_id

# Latency is end-to-end when the loop reports it; None renders as "unknown" in Home Assistant.
_LATENCY = "{{ value_json.latency_ms.end_to_end.p50 if value_json.latency_ms.end_to_end is defined else None }}"
# The attributes a person reads beside the emotion: its score, the face's track id, how many faces
# are in view and when (ISO 8601), not the payload's version or raw epoch seconds.
_EMOTION_ATTRIBUTES = (
    "{{ {'score': value_json.score, 'face_id': value_json.face_id, 'faces': value_json.faces, "
    "'time': value_json.time} | tojson }}"
)
# What the frame rate is made of (the cadence: detector and classifier runs per second, frames the
# motion gate spared), and what the latency is made of (the detector's and the classifier's p50 on
# the frames they ran on); figures an older device does not send are null.
_FPS_ATTRIBUTES = (
    "{{ {'detections_per_s': value_json.detections_per_s | default(none), "
    "'classifications_per_s': value_json.classifications_per_s | default(none), "
    "'frames_gated': value_json.frames_gated | default(none)} | tojson }}"
)
_LATENCY_ATTRIBUTES = (
    "{{ {'detect_ms': value_json.latency_ms.detect.p50 if value_json.latency_ms.detect is defined else None, "
    "'infer_ms': value_json.latency_ms.infer.p50 if value_json.latency_ms.infer is defined else None} | tojson }}"
)
# A stats message without a health state (an older device) counts as healthy.
_PROBLEM = "{{ 'OFF' if (value_json.state | default('ok')) == 'ok' else 'ON' }}"
# ("state" is a name Home Assistant keeps for itself and drops from attributes.)
_PROBLEM_ATTRIBUTES = (
    "{{ {'health': value_json.state | default('ok'), 'reasons': value_json.reasons | default([])} | tojson }}"
)

# Every (component, object id) this device announces, and every one an earlier release announced:
# ``forget`` clears them all.
ENTITIES = (
    ("sensor", "emotion"),
    ("sensor", "faces"),
    ("sensor", "fps"),
    ("sensor", "latency"),
    ("binary_sensor", "occupancy"),
    ("binary_sensor", "problem"),
)


@dataclass(frozen=True)
class DeviceInfo:
    """What Home Assistant's device page shows beyond the model: the hardware and, when the live
    view is on and reachable, its address (``configuration_url``)."""

    hw_version: str | None = None
    configuration_url: str | None = None


def hardware() -> str:
    """The board's model (Jetson, Raspberry Pi: the device tree's), else the machine type."""
    try:
        model = Path("/proc/device-tree/model").read_text(errors="replace").replace("\0", "").strip()
    except OSError:
        model = ""
    return model or f"{platform.machine() or 'unknown'} {platform.system() or 'computer'}"


def device_block(topics: Topics, model_name: str, model_version: str, info: DeviceInfo | None = None) -> dict[str, Any]:
    info = info or DeviceInfo(hw_version=hardware())
    device: dict[str, Any] = {
        "identifiers": [f"emotion_edge_{ha_object_id(topics.device_id)}"],
        "name": f"emotion-edge {topics.device_id}",
        "manufacturer": "emotion-edge",
        "model": model_name,
        "model_id": model_version,
        "sw_version": f"{__version__} (model {model_version})",
    }
    if info.hw_version:
        device["hw_version"] = info.hw_version
    if info.configuration_url:
        device["configuration_url"] = info.configuration_url
    return device


def entity_configs(
    topics: Topics,
    model_name: str,
    model_version: str,
    classes: Sequence[str],
    info: DeviceInfo | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """(component, object id) -> config payload."""
    uid = f"emotion_edge_{ha_object_id(topics.device_id)}"
    common: dict[str, Any] = {
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device_block(topics, model_name, model_version, info),
        "origin": {"name": "emotion-edge", "sw_version": __version__},
    }
    return {
        ("sensor", "emotion"): {
            "name": "Emotion",
            "unique_id": f"{uid}_emotion",
            "state_topic": topics.presence,
            "value_template": "{{ value_json.emotion }}",
            "json_attributes_topic": topics.presence,
            "json_attributes_template": _EMOTION_ATTRIBUTES,
            "device_class": "enum",
            "options": [*dict.fromkeys([*classes, NONE_EMOTION])],
            "icon": "mdi:emoticon-outline",
            **common,
        },
        ("sensor", "faces"): {
            "name": "Faces",
            "unique_id": f"{uid}_faces",
            "state_topic": topics.presence,
            "value_template": "{{ value_json.faces }}",
            "unit_of_measurement": "faces",
            "state_class": "measurement",
            "icon": "mdi:account-group",
            **common,
        },
        ("binary_sensor", "occupancy"): {
            "name": "Occupancy",
            "unique_id": f"{uid}_occupancy",
            "state_topic": topics.presence,
            "value_template": "{{ 'ON' if value_json.occupied else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "occupancy",
            **common,
        },
        ("sensor", "fps"): {
            "name": "Frame rate",
            "unique_id": f"{uid}_fps",
            "state_topic": topics.stats,
            "value_template": "{{ value_json.fps }}",
            "json_attributes_topic": topics.stats,
            "json_attributes_template": _FPS_ATTRIBUTES,
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "suggested_display_precision": 1,
            "entity_category": "diagnostic",
            "icon": "mdi:speedometer",
            **common,
        },
        ("sensor", "latency"): {
            "name": "Latency",
            "unique_id": f"{uid}_latency",
            "state_topic": topics.stats,
            "value_template": _LATENCY,
            "json_attributes_topic": topics.stats,
            "json_attributes_template": _LATENCY_ATTRIBUTES,
            "unit_of_measurement": "ms",
            "device_class": "duration",
            "state_class": "measurement",
            "suggested_display_precision": 0,
            "entity_category": "diagnostic",
            **common,
        },
        ("binary_sensor", "problem"): {
            "name": "Problem",
            "unique_id": f"{uid}_problem",
            "state_topic": topics.stats,
            "value_template": _PROBLEM,
            "json_attributes_topic": topics.stats,
            "json_attributes_template": _PROBLEM_ATTRIBUTES,
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "problem",
            "entity_category": "diagnostic",
            **common,
        },
    }


# A camera's entities on a several-camera device (object id ``<camera>_<entity>``), as Frigate gives
# each camera its own sensors on one device.
CAMERA_ENTITIES = (
    ("sensor", "emotion"),
    ("sensor", "faces"),
    ("binary_sensor", "occupancy"),
    ("binary_sensor", "problem"),
)
# The device's own entities when its cameras have theirs: the streams are the cameras'.
DEVICE_ENTITIES_WITH_CAMERAS = (("sensor", "fps"), ("sensor", "latency"), ("binary_sensor", "problem"))


def _camera_title(camera: str) -> str:
    return camera.replace("_", " ").replace("-", " ").capitalize()


def camera_entity_configs(
    topics: Topics, camera: str, device_configs: dict[tuple[str, str], dict[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """A camera's Emotion, Faces, Occupancy and Problem, made from the device's own entities: the
    stream ones read the camera's presence topic, Problem its part of the device's stats."""
    stream = topics.for_camera(camera)
    title = _camera_title(camera)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for component, entity in CAMERA_ENTITIES:
        config = dict(device_configs[(component, entity)])
        config["name"] = f"{title} {config['name']}"
        config["unique_id"] = f"{config['unique_id'].rsplit('_', 1)[0]}_{ha_object_id(camera)}_{entity}"
        if entity == "problem":
            part = f"value_json.cameras[{camera!r}]"
            config["value_template"] = (
                f"{{{{ 'OFF' if ({part}.state if value_json.cameras is defined and {camera!r} in value_json.cameras "
                "else 'ok') == 'ok' else 'ON' }}"
            )
            config["json_attributes_template"] = (
                f"{{{{ {{'health': {part}.state, 'reasons': {part}.reasons}} | tojson "
                f"if value_json.cameras is defined and {camera!r} in value_json.cameras else '{{}}' }}}}"
            )
            config["entity_category"] = "diagnostic"
        else:
            for key in ("state_topic", "json_attributes_topic"):
                if key in config:
                    config[key] = stream.presence
        out[(component, f"{ha_object_id(camera)}_{entity}")] = config
    return out


def discovery_messages(
    prefix: str,
    topics: Topics,
    model_name: str,
    model_version: str,
    classes: Sequence[str],
    qos: int,
    info: DeviceInfo | None = None,
    cameras: Sequence[str] = (),
) -> list[Message]:
    """The retained discovery configs: the device's entities; with ``cameras``, each camera's
    Emotion, Faces, Occupancy and Problem beside the device's Frame rate, Latency and Problem."""
    configs = entity_configs(topics, model_name, model_version, classes, info)
    if cameras:
        mine = {key: configs[key] for key in DEVICE_ENTITIES_WITH_CAMERAS}
        for camera in cameras:
            mine.update(camera_entity_configs(topics, camera, configs))
        configs = mine
    return [
        Message(ha_config(prefix, component, topics.device_id, object_id), encode(config), qos=qos, retain=True)
        for (component, object_id), config in configs.items()
    ]


def forget_messages(prefix: str, topics: Topics, qos: int = 1, cameras: Sequence[str] = ()) -> list[Message]:
    """Empty retained messages that remove the device from Home Assistant (an empty config deletes
    its entity; the device goes with its last entity) and clear what it left retained on the
    broker (availability, emotion, presence; with ``cameras``, each camera's too)."""
    configs = [ha_config(prefix, component, topics.device_id, object_id) for component, object_id in ENTITIES]
    for camera in cameras:
        configs += [
            ha_config(prefix, component, topics.device_id, f"{ha_object_id(camera)}_{entity}")
            for component, entity in CAMERA_ENTITIES
        ]
    retained = [*topics.retained]
    for camera in cameras:
        stream = topics.for_camera(camera)
        retained += [stream.emotion, stream.presence]
    return [Message(topic, b"", qos=qos, retain=True) for topic in [*configs, *retained]]
