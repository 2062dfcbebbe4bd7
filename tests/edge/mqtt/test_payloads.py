"""Payload builders against the contract's JSON Schemas (the schemas themselves are checked too)."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest

from edge.mqtt.discovery import DeviceInfo, discovery_messages, forget_messages
from edge.mqtt.payloads import emotion_payload, encode, faces_payload, presence_payload, stats_payload
from edge.mqtt.schemas import SCHEMAS, load_schema
from edge.mqtt.topics import Topics
from edge.results import FaceResult, FrameResult
from tests.edge.mqtt.clients import CLASSES, face, frame, validate

LOOP_STATS = {
    "fps": 14.7,
    "frames": 1200,
    "faces": 2300,
    "faces_per_frame": 1.9,
    "uptime_s": 81.6,
    "latency_ms": {
        "detect": {"p50": 8.1, "p95": 9.0, "p99": 12.3, "mean": 8.4, "max": 20.0},
        "end_to_end": {"p50": 31.0, "p99": 48.5},
        "draw": {},
    },
    "dropped_frames": 7,
    "bad_frames": 0,
    "peak_rss_mb": 180.5,
}
MQTT_FIGURES = {
    "connected": True,
    "connects": 1,
    "disconnects": 0,
    "sent": 10,
    "queued": 0,
    "queue_capacity": 100,
    "state_pending": 0,
    "in_flight": 0,
    "superseded": 0,
    "dropped": {"overflow": 2, "lost": 1, "rejected": 0, "invalid": 0, "total": 3},
}


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_schema_is_a_valid_json_schema(kind: str) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema(kind))


def test_faces_payload_has_every_face_with_box_emotion_score_and_all_scores() -> None:
    result = frame(42, face(1, "happy", 0.9, size=50), face(2, "sad", 0.6, size=120))
    payload = json.loads(encode(faces_payload(result)))
    validate("faces", payload)
    assert payload["v"] == 1 and payload["frame"] == 42 and payload["main_face"] == 2
    first = payload["faces"][0]
    assert first["id"] == 1 and first["box"] == [10, 20, 50, 50] and first["emotion"] == "happy"
    assert set(first["scores"]) == set(CLASSES)


def test_an_empty_faces_message_is_valid() -> None:
    validate("faces", json.loads(encode(faces_payload(frame(3)))))


def test_emotion_payloads_for_a_face_and_for_none() -> None:
    f = face(7, "surprise", 0.77)
    some = json.loads(encode(emotion_payload(1.5, "surprise", f)))
    none = json.loads(encode(emotion_payload(2.5, "none", None)))
    validate("emotion", some)
    validate("emotion", none)
    assert (some["emotion"], some["face_id"], some["score"]) == ("surprise", 7, 0.77)
    assert (none["emotion"], none["face_id"], none["score"]) == ("none", None, None)
    with pytest.raises(jsonschema.ValidationError):
        validate("emotion", {**none, "face_id": 3})


def test_stats_payload_merges_the_loops_figures_with_the_publishers() -> None:
    p = stats_payload(
        LOOP_STATS,
        ts=1.0,
        uptime_s=90.0,
        faces=2,
        backend="tensorrt",
        model_name="emotion-edge-cnn",
        model_version="1.0.0",
        mqtt=MQTT_FIGURES,
    )
    validate("stats", json.loads(encode(p)))
    assert p["fps"] == 14.7 and p["dropped_frames"] == 7 and p["dropped_messages"] == 3
    assert p["faces"] == 2  # faces in the latest frame, not the loop's running total
    assert p["latency_ms"]["detect"]["p99"] == 12.3 and "draw" not in p["latency_ms"]
    assert p["model"] == {"name": "emotion-edge-cnn", "version": "1.0.0"} and p["backend"] == "tensorrt"
    assert p["bad_frames"] == 0 and isinstance(p["bad_frames"], int)  # the loop's other figures pass through
    assert p["peak_rss_mb"] == 180.5
    assert p["uptime_s"] == 90.0


def test_stats_payload_carries_what_ran_detections_gated_frames_classifications() -> None:
    figures = {"detections": 40, "frames_gated": 250, "classifications": 38}
    rates = {"detections_per_s": 1.3, "classifications_per_s": 1.27}
    publisher = {"ts": 1.0, "uptime_s": 9.0, "faces": 1, "backend": "onnxruntime", "mqtt": MQTT_FIGURES}
    p = stats_payload({**LOOP_STATS, **figures, **rates}, model_name="m", model_version="1", **publisher)
    validate("stats", json.loads(encode(p)))
    assert {k: p[k] for k in [*figures, *rates]} == {**figures, **rates}
    with pytest.raises(jsonschema.ValidationError):
        validate("stats", {**json.loads(encode(p)), "frames_gated": -1})


def test_stats_payload_says_why_the_backend_runs() -> None:
    reason = "TensorRT failed: CUDA error (LogicError: cuInit failed); ONNX Runtime 1.20.1 (CPUExecutionProvider)"
    p = stats_payload(
        {**LOOP_STATS, "backend": "onnxruntime", "backend_reason": reason},
        ts=1.0,
        uptime_s=9.0,
        faces=0,
        backend="onnxruntime",
        model_name="emotion-edge-cnn",
        model_version="1.2.0",
        mqtt=MQTT_FIGURES,
    )
    validate("stats", json.loads(encode(p)))
    assert p["backend"] == "onnxruntime" and p["backend_reason"] == reason


def test_stats_payload_with_missing_or_broken_figures_is_still_valid() -> None:
    p = stats_payload(
        {"fps": math.nan, "latency_ms": "garbage", "weird": [1, 2]},
        ts=1.0,
        uptime_s=0.0,
        faces=0,
        backend="onnxruntime",
        model_name="m",
        model_version="v",
        mqtt=MQTT_FIGURES,
    )
    validate("stats", json.loads(encode(p)))
    assert p["fps"] is None and p["frames"] is None and p["latency_ms"] == {} and "weird" not in p


def test_encoding_refuses_nan_rather_than_sending_invalid_json() -> None:
    bad = FaceResult(1, (0, 0, 10, 10), "happy", math.nan, {"happy": math.nan})
    with pytest.raises(ValueError):
        encode(faces_payload(FrameResult(1, 0.0, 10, 10, (bad,))))


def test_discovery_configs_describe_six_entities_wired_to_availability() -> None:
    topics = Topics("emotion-edge", "kitchen.cam")
    info = DeviceInfo(hw_version="NVIDIA Jetson Orin Nano", configuration_url="https://kitchen.lan:8080/")
    messages = discovery_messages("homeassistant", topics, "emotion-edge-cnn", "1.0.0", CLASSES, qos=1, info=info)
    by_topic = {m.topic: json.loads(m.payload) for m in messages}
    assert set(by_topic) == {
        *(f"homeassistant/sensor/kitchen_cam/{name}/config" for name in ("emotion", "faces", "fps", "latency")),
        *(f"homeassistant/binary_sensor/kitchen_cam/{name}/config" for name in ("occupancy", "problem")),
    }
    for m in messages:
        assert m.retain and m.qos == 1
    for config in by_topic.values():
        validate("discovery", config)
        assert config["availability_topic"] == "emotion-edge/kitchen.cam/availability"
        device = config["device"]
        assert device["hw_version"] == "NVIDIA Jetson Orin Nano" and device["model"] == "emotion-edge-cnn"
        assert device["configuration_url"] == "https://kitchen.lan:8080/" and device["model_id"] == "1.0.0"
    emotion = by_topic["homeassistant/sensor/kitchen_cam/emotion/config"]
    # Emotion, faces and occupancy follow the retained presence topic, never a stream or a stale value.
    assert emotion["state_topic"] == topics.presence and emotion["options"] == [*CLASSES, "none"]
    assert emotion["json_attributes_topic"] == topics.presence
    for name in ("score", "face_id", "faces", "time"):
        assert f"'{name}'" in emotion["json_attributes_template"]
    assert "value_json.v" not in emotion["json_attributes_template"]
    faces = by_topic["homeassistant/sensor/kitchen_cam/faces/config"]
    assert faces["state_topic"] == topics.presence and faces["unit_of_measurement"] == "faces"
    occupancy = by_topic["homeassistant/binary_sensor/kitchen_cam/occupancy/config"]
    assert occupancy["state_topic"] == topics.presence and occupancy["device_class"] == "occupancy"
    problem = by_topic["homeassistant/binary_sensor/kitchen_cam/problem/config"]
    assert problem["state_topic"] == topics.stats and problem["device_class"] == "problem"
    assert problem["entity_category"] == "diagnostic"
    assert by_topic["homeassistant/sensor/kitchen_cam/fps/config"]["state_topic"] == topics.stats


def test_without_a_live_view_the_device_page_has_no_link_but_names_the_hardware() -> None:
    messages = discovery_messages("homeassistant", Topics("emotion-edge", "k"), "m", "1", CLASSES, qos=1)
    device = json.loads(messages[0].payload)["device"]
    assert "configuration_url" not in device and device["hw_version"]


@pytest.mark.parametrize(
    ("component", "template", "payload", "expected"),
    [
        ("binary_sensor/k/problem", "value_template", {"state": "ok", "reasons": []}, "OFF"),
        ("binary_sensor/k/problem", "value_template", {"state": "degraded", "reasons": ["source lost"]}, "ON"),
        ("binary_sensor/k/problem", "value_template", {"state": "failed", "reasons": ["x"]}, "ON"),
        ("binary_sensor/k/problem", "value_template", {"fps": 3.0}, "OFF"),  # a device without health
        ("binary_sensor/k/occupancy", "value_template", {"occupied": True}, "ON"),
        ("binary_sensor/k/occupancy", "value_template", {"occupied": False}, "OFF"),
        ("sensor/k/faces", "value_template", {"faces": 2}, "2"),
        ("sensor/k/emotion", "value_template", {"emotion": "happy"}, "happy"),
        (
            "sensor/k/emotion",
            "json_attributes_template",
            {"v": 1, "ts": 1.5, "time": "1970-01-01T00:00:01.500Z", "faces": 1, "score": 0.9, "face_id": 4},
            {"score": 0.9, "face_id": 4, "faces": 1, "time": "1970-01-01T00:00:01.500Z"},
        ),
        (
            "binary_sensor/k/problem",
            "json_attributes_template",
            {"state": "degraded", "reasons": ["source lost"]},
            {"health": "degraded", "reasons": ["source lost"]},
        ),
        (
            "sensor/k/fps",
            "json_attributes_template",
            {"fps": 30.0, "detections_per_s": 10.1, "classifications_per_s": 9.8, "frames_gated": 12},
            {"detections_per_s": 10.1, "classifications_per_s": 9.8, "frames_gated": 12},
        ),
        (
            "sensor/k/fps",
            "json_attributes_template",
            {"fps": 30.0},  # a device from before the cadence
            {"detections_per_s": None, "classifications_per_s": None, "frames_gated": None},
        ),
        (
            "sensor/k/latency",
            "json_attributes_template",
            {"latency_ms": {"detect": {"p50": 3.5, "p99": 5.0}, "infer": {"p50": 1.25, "p99": 2.0}}},
            {"detect_ms": 3.5, "infer_ms": 1.25},
        ),
        (
            "sensor/k/latency",
            "json_attributes_template",
            {"latency_ms": {"end_to_end": {"p50": 3.5, "p99": 5.0}}},  # an empty room: neither ran
            {"detect_ms": None, "infer_ms": None},
        ),
    ],
)
def test_the_templates_render_what_home_assistant_shows(
    component: str, template: str, payload: dict, expected: object
) -> None:
    """Jinja, as Home Assistant renders it (the real check against Home Assistant is `make ha-check`)."""
    jinja2 = pytest.importorskip("jinja2")
    messages = discovery_messages("homeassistant", Topics("emotion-edge", "k"), "m", "1", CLASSES, qos=1)
    config = next(json.loads(m.payload) for m in messages if m.topic == f"homeassistant/{component}/config")
    env = jinja2.Environment()
    env.filters["tojson"] = json.dumps
    rendered = env.from_string(config[template]).render(value_json=payload).strip()
    assert (json.loads(rendered) if isinstance(expected, dict) else rendered) == expected


def test_presence_says_what_is_in_view_with_an_iso_time() -> None:
    p = presence_payload(1718000000.1234, 2, True, "happy", face(3, "happy", 0.87654))
    validate("presence", json.loads(encode(p)))
    assert p == {
        "v": 1,
        "ts": 1718000000.123,
        "time": "2024-06-10T06:13:20.123Z",
        "faces": 2,
        "occupied": True,
        "emotion": "happy",
        "score": 0.8765,
        "face_id": 3,
    }
    empty = presence_payload(1718000000.0, 0, False, "none", None)
    validate("presence", empty)
    assert (empty["score"], empty["face_id"], empty["time"]) == (None, None, "2024-06-10T06:13:20.000Z")
    with pytest.raises(jsonschema.ValidationError):
        validate("presence", {**empty, "occupied": True})  # none means nobody there


def test_forget_clears_every_entity_and_the_retained_state() -> None:
    topics = Topics("emotion-edge", "kitchen.cam")
    cleared = {m.topic for m in forget_messages("homeassistant", topics)}
    announced = {m.topic for m in discovery_messages("homeassistant", topics, "m", "1", CLASSES, qos=1)}
    assert announced <= cleared
    assert {topics.availability, topics.emotion, topics.presence} <= cleared
    assert all(m.payload == b"" and m.retain for m in forget_messages("homeassistant", topics))
