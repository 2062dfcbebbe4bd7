"""The training configuration refuses bad values with a message that names the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.config import ConfigError, TrainConfig


def test_the_defaults_are_the_release_recipe_and_valid() -> None:
    cfg = TrainConfig().validate()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.patience) == (160, 128, 2e-3, 40)
    assert cfg.teachers == [] and cfg.init == ""


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", 0, "epochs must be a positive integer"),
        ("lr", -1.0, "lr must be >= 0"),
        ("label_smoothing", 1.0, r"label_smoothing must be in \[0, 1\)"),
        ("distill_weight", 1.5, r"distill_weight must be in \[0, 1\]"),
        ("distill_temperature", 0.0, "distill_temperature must be > 0"),
        ("mixup_alpha", -0.2, "mixup_alpha must be >= 0"),
        ("class_weighting", "log", "class_weighting must be one of none, sqrt_inv, inv"),
        ("device", "tpu", "device must be auto, cpu or cuda"),
        ("teachers", ["a.pt", ""], "teachers must be a list of checkpoint or .onnx paths"),
    ],
)
def test_a_bad_value_is_refused_by_name(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({key: value})


def test_unknown_keys_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"epochs": 3, "learning_rate": 0.1}))
    with pytest.raises(ConfigError, match=r"unknown training config keys \['learning_rate'\]"):
        TrainConfig.from_file(path)


def test_a_run_config_that_names_one_teacher_still_loads() -> None:
    # config.json of runs made before ensembles: "teacher" held one path, or "" for none.
    assert TrainConfig.from_dict({"teacher": "runs/a/best.pt"}).teachers == ["runs/a/best.pt"]
    assert TrainConfig.from_dict({"teacher": ""}).teachers == []
