"""The training configuration: bad values are refused naming the key, its origin and what is allowed;
every setting is a flag; flags override a --config file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from edge.fields import ConfigError
from train.cli import FLAG_NAMES, add_train, train_config
from train.config import TrainConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


def test_the_defaults_are_the_release_recipe_and_valid() -> None:
    cfg = TrainConfig().validate()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.patience) == (160, 128, 2e-3, 40)
    assert cfg.teachers == [] and cfg.init == ""


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", 0, r"epochs=0 \(from file x\.json\) is out of range; allowed: 1 <= epochs$"),
        ("lr", -1.0, r"lr=-1\.0 .* is out of range; allowed: 0 <= lr$"),
        ("label_smoothing", 1.0, r"label_smoothing=1\.0 .* allowed: 0 <= label_smoothing < 1$"),
        ("distill_weight", 1.5, r"distill_weight=1\.5 .* allowed: 0 <= distill_weight <= 1$"),
        ("distill_temperature", 0.0, r"distill_temperature=0\.0 .* allowed: 0 < distill_temperature$"),
        ("mixup_alpha", -0.2, r"mixup_alpha=-0\.2 .* allowed: 0 <= mixup_alpha$"),
        ("class_weighting", "log", r"class_weighting='log' .* is not allowed; choose one of: none, sqrt_inv, inv$"),
        ("device", "tpu", r"device='tpu' .* is not allowed; choose one of: auto, cpu, cuda$"),
        ("equalize", "gamma", r"equalize='gamma' .* is not allowed; choose one of: none, hist, clahe \(none: "),
        ("teachers", ["a.pt", ""], r"teachers\[1\]='' \(from file x\.json\) is not allowed: it is empty$"),
        ("epochs", 2.5, r"epochs=2\.5 .*: expected a whole number$"),
        (
            "logit_adjustment",
            1.0,
            r"logit_adjustment 1\.0 .*class_weighting sqrt_inv already weighs; pass --class-weighting none with it",
        ),
        ("widths", [32, 64], r"widths \[32, 64\] and depths \[1, 2, 2, 2\] must be non-empty and equally long"),
    ],
)
def test_a_bad_value_is_refused_by_name(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({key: value}, "file x.json")


def test_unknown_keys_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"epochs": 3, "learnig_rate": 0.1, "epoch": 2}))
    with pytest.raises(ConfigError, match=rf"unknown key learnig_rate \(from file {path}\); keys are: data, out, "):
        TrainConfig.from_file(path)


def test_a_run_config_that_names_one_teacher_still_loads() -> None:
    # config.json of runs made before ensembles: "teacher" held one path, or "" for none.
    assert TrainConfig.from_dict({"teacher": "runs/a/best.pt"}).teachers == ["runs/a/best.pt"]
    assert TrainConfig.from_dict({"teacher": ""}).teachers == []


def test_a_run_config_round_trips(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=3, teachers=["a.pt"], classes=["happy", "sad"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_file(path) == cfg


def test_every_setting_has_a_flag() -> None:
    parser = argparse.ArgumentParser()
    add_train(parser.add_subparsers())
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    options = {s for a in train._actions for s in a.option_strings}
    for name in TrainConfig.model_fields:
        assert FLAG_NAMES.get(name, "--" + name.replace("_", "-")) in options, f"{name} has no flag"


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('epochs = 5\nlr = 0.01\noptimizer = "sgd"\nteachers = ["file.pt"]\n')
    cfg = train_config(parse("--config", str(path), "--lr", "0.5", "--teacher", "a.pt", "--teacher", "b.onnx"))
    assert (cfg.epochs, cfg.lr, cfg.optimizer) == (5, 0.5, "sgd")
    assert cfg.teachers == ["a.pt", "b.onnx"]  # the flags replace the file's list
    assert cfg.weight_decay == TrainConfig().weight_decay


def test_every_kind_of_flag_parses() -> None:
    cfg = train_config(
        parse(
            "--classes", "happy, sad", "--widths", "16,32", "--depths", "1,1", "--weight-decay", "0",
            "--dropout", "0.1", "--no-amp", "--no-augment", "--skip-bad", "--strict-size", "--init", "x.pt",
        )
    )  # fmt: skip
    assert cfg.classes == ["happy", "sad"] and cfg.widths == [16, 32] and cfg.depths == [1, 1]
    assert (cfg.weight_decay, cfg.dropout, cfg.init) == (0.0, 0.1, "x.pt")
    assert (cfg.amp, cfg.augment, cfg.skip_bad, cfg.strict_size) == (False, False, True, True)
    assert train_config(parse("--amp")).amp is True


def test_a_bad_flag_or_file_value_names_its_origin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^lr=-1\.0 \(from command line --lr\) is out of range; allowed: 0 <= lr$"):
        train_config(parse("--lr", "-1"))
    with pytest.raises(ConfigError, match=r"^epochs='many' \(from command line --epochs\): expected a whole number$"):
        train_config(parse("--epochs", "many"))
    with pytest.raises(ConfigError, match=r"^teachers\[0\]='' \(from command line --teacher\) is not allowed"):
        train_config(parse("--teacher", ""))
    path = tmp_path / "settings.json"
    path.write_text('{"dropout": 1.5}')
    with pytest.raises(ConfigError, match=rf"^dropout=1\.5 \(from file {path}\) is out of range"):
        train_config(parse("--config", str(path)))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        train_config(parse("--config", str(path)))


def test_five_point_alignment_and_the_device_crop_jitter_are_refused_together() -> None:
    with pytest.raises(ConfigError, match=r"align_landmarks and device_crop frame faces two different ways"):
        TrainConfig.from_dict({"align_landmarks": True, "device_crop": True}, "file x.json")
    assert TrainConfig.from_dict({"align_landmarks": True}).align_landmarks
