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
