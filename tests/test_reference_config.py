"""The annotated reference configuration (systemd/emotion-edge.toml) works as written: its model and
its TensorRT precision belong together."""

from __future__ import annotations

from pathlib import Path

from edge.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "systemd" / "emotion-edge.toml"


def test_the_reference_configs_precision_matches_its_model() -> None:
    model = load_config(EXAMPLE, env={}).model
    path = Path(model.path)
    assert path.is_file(), f"{EXAMPLE.name} names {path}, which the repository does not ship"
    quantized = b"QuantizeLinear" in path.read_bytes()  # the Q/DQ (INT8) model, as `doctor` tells them apart
    # TensorRT builds an INT8 engine from the Q/DQ model only, and refuses FP16 from it.
    assert model.precision == ("int8" if quantized else "fp16"), (model.path, model.precision)


def test_the_two_camera_example_loads_with_each_cameras_settings_over_the_devices() -> None:
    example = ROOT / "systemd" / "two-cameras.toml"
    config = load_config(example, env={})
    cameras = config.camera_configs()
    assert list(cameras) == ["entrance", "counter"]
    assert cameras["entrance"].source.uri == "/dev/video0" and cameras["entrance"].detector.max_side == 320
    assert cameras["counter"].source.uri.startswith("rtsp://") and cameras["counter"].detector.max_side == 480
    assert cameras["counter"].source.retry_max_s == 30.0 and cameras["counter"].source.width == 640
    assert Path(config.model.path).is_file() and config.model.precision == "int8"
