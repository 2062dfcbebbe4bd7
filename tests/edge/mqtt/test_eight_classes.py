"""The device runs a model with another class set unchanged: an eight-class model (FER+'s contempt
added, as ``train --contempt`` makes) publishes eight scores per face and offers contempt to Home
Assistant, with no setting changed."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge.model_meta import read_onnx_metadata
from edge.mqtt.schemas import load_schema
from tests.edge.device_process import device_running, stop
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber
from tests.grown_model import grow_contempt

pytestmark = pytest.mark.shared


def test_an_eight_class_model_publishes_eight_scores_and_offers_contempt_to_home_assistant(
    face_clip: Path, shipped_model: Path, yunet_model: Path, broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    model = grow_contempt(shipped_model, tmp_path / "eight.onnx")
    assert read_onnx_metadata(str(model)).classes[-1] == "contempt"
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{face_clip}"\nloop = true\n'
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{model}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "cam8"\n'
    )
    with device_running(config) as process:
        faces = subscriber.wait_for(
            lambda r: r.topic == "emotion-edge/cam8/faces" and bool(r.json()["faces"]), 60, what="faces"
        )
        jsonschema.validate(faces.json(), load_schema("faces"))
        scores = faces.json()["faces"][0]["scores"]
        assert list(scores) == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise", "contempt"]
        assert sum(scores.values()) == pytest.approx(1.0, abs=0.01)
        discovery = subscriber.wait_for(
            lambda r: r.topic.startswith("homeassistant/sensor/") and r.topic.endswith("/emotion/config"),
            30,
            what="the emotion sensor's discovery config",
        )
        assert "contempt" in json.loads(discovery.text)["options"]
        stop(process)
