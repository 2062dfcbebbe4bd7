"""The shipped models carry the figures they were released with, and those figures are what the
whole pipeline gives today: each file's recorded count of real photos read right is recomputed
here on the same 130 photos (YuNet, the model's own crop policy, the model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import catalog
from edge.model_meta import read_onnx_metadata
from train.evaluate import onnx_predictor
from train.wild_eval import evaluate_wild

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "models" / e.file(p) for e in catalog.CATALOG for p in catalog.PRECISIONS]


@pytest.mark.parametrize("model", FILES, ids=lambda p: p.name)
def test_the_recorded_photo_figure_is_what_the_pipeline_gives(model: Path, wild_dir: Path, yunet_model: Path) -> None:
    info = read_onnx_metadata(str(model))
    recorded = info.metrics.get("wild_correct")
    assert isinstance(recorded, int), f"{model.name} records no whole-pipeline figure (export release writes it)"
    classes, predict = onnx_predictor(model)
    result = evaluate_wild(wild_dir, yunet_model, predict, classes, info.crop)
    assert (result.correct, result.images) == (recorded, info.metrics["wild_n"])


def test_the_default_model_is_calibrated_and_was_released_by_the_rule() -> None:
    fp32 = read_onnx_metadata(str(ROOT / "models" / "emotion-edge-fp32.onnx"))
    int8 = read_onnx_metadata(str(ROOT / "models" / "emotion-edge-int8.onnx"))
    assert fp32.version == int8.version and fp32.version.startswith("2.")
    assert fp32.temperature == int8.temperature == fp32.extra["calibration"]["temperature"] != 1.0
    assert fp32.metrics["release_rule"] == int8.metrics["release_rule"] == "met"
    assert fp32.metrics["wild_top1"] >= 0.60 and fp32.metrics["ferplus_test_top1"] >= 0.80
