"""Home Assistant MQTT discovery: one device with four sensors (emotion, faces, fps, latency).

Each sensor's config is a retained message on ``<prefix>/sensor/<node>/<object>/config``. Every
sensor is wired to the availability topic, so Home Assistant greys it out when the device goes
offline (cleanly or through the last will). The publisher sends these configs on every connect and
again whenever Home Assistant announces itself on ``<prefix>/status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge import __version__
from edge.mqtt.outbox import Message
from edge.mqtt.payloads import encode
from edge.mqtt.policy import NONE_EMOTION
from edge.mqtt.topics import OFFLINE, ONLINE, Topics, ha_config, ha_object_id

# Latency is end-to-end when the loop reports it; None renders as "unknown" in Home Assistant.
_LATENCY = "{{ value_json.latency_ms.end_to_end.p50 if value_json.latency_ms.end_to_end is defined else None }}"


def sensor_configs(
    topics: Topics, model_name: str, model_version: str, classes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Object id -> config payload."""
    node = ha_object_id(topics.device_id)
    uid = f"emotion_edge_{node}"
    device = {
        "identifiers": [uid],
        "name": f"emotion-edge {topics.device_id}",
        "manufacturer": "emotion-edge",
        "model": model_name,
        "sw_version": f"{__version__} (model {model_version})",
    }
    common: dict[str, Any] = {
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
        "origin": {"name": "emotion-edge", "sw_version": __version__},
    }
    return {
        "emotion": {
            "name": "Emotion",
            "unique_id": f"{uid}_emotion",
            "state_topic": topics.emotion,
            "value_template": "{{ value_json.emotion }}",
            "json_attributes_topic": topics.emotion,
            "device_class": "enum",
            "options": [*dict.fromkeys([*classes, NONE_EMOTION])],
            "icon": "mdi:emoticon-outline",
            **common,
        },
        "faces": {
            "name": "Faces",
            "unique_id": f"{uid}_faces",
            "state_topic": topics.faces,
            "value_template": "{{ value_json.faces | length }}",
            "state_class": "measurement",
            "icon": "mdi:account-group",
            **common,
        },
        "fps": {
            "name": "Frame rate",
            "unique_id": f"{uid}_fps",
            "state_topic": topics.stats,
            "value_template": "{{ value_json.fps }}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "suggested_display_precision": 1,
            "entity_category": "diagnostic",
            "icon": "mdi:speedometer",
            **common,
        },
        "latency": {
            "name": "Latency",
            "unique_id": f"{uid}_latency",
            "state_topic": topics.stats,
            "value_template": _LATENCY,
            "unit_of_measurement": "ms",
            "device_class": "duration",
            "state_class": "measurement",
            "suggested_display_precision": 0,
            "entity_category": "diagnostic",
            **common,
        },
    }


def discovery_messages(
    prefix: str, topics: Topics, model_name: str, model_version: str, classes: Sequence[str], qos: int
) -> list[Message]:
    configs = sensor_configs(topics, model_name, model_version, classes)
    return [
        Message(ha_config(prefix, "sensor", topics.device_id, object_id), encode(config), qos=qos, retain=True)
        for object_id, config in configs.items()
    ]
