"""End to end: `emotion-edge run` on a clip of real faces publishes the contract to a real broker."""

from __future__ import annotations

import time
from pathlib import Path

import jsonschema
import pytest

from edge.mqtt.schemas import load_schema
from tests.edge.device_process import device_running, stop
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber

pytestmark = pytest.mark.shared


def test_run_publishes_availability_faces_emotion_and_stats_then_offline_on_sigterm(
    face_clip: Path, shipped_model: Path, yunet_model: Path, broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{face_clip}"\nloop = true\n'
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n[stats]\ninterval_s = 0.5\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "cam1"\n[mqtt.rate]\nstats_interval_s = 0.5\n'
    )
    base = "emotion-edge/cam1"
    with device_running(config) as process:
        subscriber.wait_for(lambda r: r.topic == f"{base}/availability" and r.text == "online", 60, what="online")
        faces = subscriber.wait_for(lambda r: r.topic == f"{base}/faces" and bool(r.json()["faces"]), 30, what="faces")
        emotion = subscriber.wait_for(lambda r: r.topic == f"{base}/emotion", 30, what="emotion")
        stats = subscriber.wait_for(lambda r: r.topic == f"{base}/stats", 30, what="stats")
        for kind, message in (("faces", faces), ("emotion", emotion), ("stats", stats)):
            jsonschema.validate(message.json(), load_schema(kind))
        late = Subscriber(broker.port, topics=(f"{base}/emotion",)).start()
        try:  # a subscriber that comes later still learns the current emotion: it is retained
            assert late.wait_for(lambda r: r.retain, 10, what="retained emotion").json()["emotion"]
        finally:
            late.stop()
        assert stats.json()["backend"] == "onnxruntime"
        time.sleep(0.2)
        stop(process)
    subscriber.wait_for(lambda r: r.topic == f"{base}/availability" and r.text == "offline", 10, what="offline")
