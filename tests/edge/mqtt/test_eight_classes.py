"""The device runs a model with another class set unchanged: an eight-class model (FER+'s contempt
added, as ``train --contempt`` makes) publishes eight scores per face and offers contempt to Home
Assistant, with no setting changed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edge.model_meta import read_onnx_metadata
from edge.mqtt.schemas import load_schema
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber

pytestmark = pytest.mark.shared
ROOT = Path(__file__).resolve().parents[3]


def grow_contempt(shipped: Path, out: Path) -> Path:
    """The shipped model with an eighth output, contempt: a zero row in its last linear layer."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from edge.model_meta import write_onnx_metadata

    model = onnx.load(str(shipped))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    trans_b = next((a.i for a in gemm.attribute if a.name == "transB"), 0)
    inits = {t.name: t for t in model.graph.initializer}
    w = numpy_helper.to_array(inits[gemm.input[1]])
    b = numpy_helper.to_array(inits[gemm.input[2]])
    w = (
        np.concatenate([w, np.zeros((1, w.shape[1]), w.dtype)])
        if trans_b
        else np.concatenate([w, np.zeros((w.shape[0], 1), w.dtype)], axis=1)
    )
    b = np.concatenate([b, np.array([b.min()], b.dtype)])
    inits[gemm.input[1]].CopyFrom(numpy_helper.from_array(w, gemm.input[1]))
    inits[gemm.input[2]].CopyFrom(numpy_helper.from_array(b, gemm.input[2]))
    for value in [*model.graph.output, *model.graph.value_info]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 2 and dims[1].dim_value == 7:
            dims[1].dim_value = 8
    onnx.save(model, str(out))
    info = read_onnx_metadata(str(shipped))
    info.classes = [*info.classes, "contempt"]
    info.version = "0.0.0-contempt-test"
    write_onnx_metadata(str(out), info)
    return out


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
    process = subprocess.Popen(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        assert process.poll() is None, process.communicate()[1]
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
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
