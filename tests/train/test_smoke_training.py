"""A short CPU training on real FER2013 faces: it learns, resumes exactly, and exports faithfully."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.classify import OnnxRuntimeClassifier
from export.onnx_export import export_onnx, torch_probs
from tests.conftest import made_once
from train import checkpoint
from train.config import TrainConfig
from train.trainer import Trainer

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def smoke_config(data: Path, out: Path, name: str) -> TrainConfig:
    return TrainConfig(
        data=str(data),
        out=str(out),
        name=name,
        epochs=4,
        batch_size=32,
        limit_train=400,
        limit_eval=200,
        augment=False,
        warmup_epochs=0.5,
        patience=0,
        threads=2,
    )


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def smoke_run(fer_archive: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    import os

    os.environ["EMOTION_EDGE_CACHE"] = str(cache_dir)
    # Trained once for the whole run (every worker that runs these tests would otherwise train it
    # again); each module copy gets its own folder, as its tests add runs beside it.
    made = made_once(
        tmp_path_factory, "smoke-run", lambda folder: Trainer(smoke_config(fer_archive, folder, "straight")).run()
    )
    out = tmp_path_factory.mktemp("runs")
    shutil.copytree(made / "straight", out / "straight")
    return out


def test_training_loss_falls_and_the_run_directory_is_complete(smoke_run: Path) -> None:
    run = smoke_run / "straight"
    rows = metrics(run)
    assert len(rows) == 4
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.1
    for name in (
        "config.json",
        "metrics.jsonl",
        "best.pt",
        "last.pt",
        "report.json",
        "report.txt",
        "confusion_matrix.png",
        "curves.png",
        "summary.json",
    ):
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    assert report["split"] == "test" and report["n"] == 200
    assert len(report["recall"]) == 7


def test_resume_continues_a_paused_run_exactly(smoke_run: Path, fer_archive: Path) -> None:
    cfg = smoke_config(fer_archive, smoke_run, "paused")
    assert Trainer(cfg).run(stop_after=2) is None
    assert len(metrics(smoke_run / "paused")) == 2
    Trainer(cfg, resume=True).run()
    straight = torch.load(smoke_run / "straight" / "last.pt", weights_only=False)
    resumed = torch.load(smoke_run / "paused" / "last.pt", weights_only=False)
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in metrics(smoke_run / "straight")]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in metrics(smoke_run / "paused")]


def test_resume_with_changed_settings_is_refused(smoke_run: Path, fer_archive: Path) -> None:
    cfg = smoke_config(fer_archive, smoke_run, "straight")
    cfg.lr = 0.5
    with pytest.raises(ValueError, match=r"different settings \(lr\)"):
        Trainer(cfg, resume=True).run()


def test_onnx_export_matches_torch_on_real_faces(smoke_run: Path, fer) -> None:
    best = smoke_run / "straight" / "best.pt"
    faces, _ = fer.split("val")
    out = smoke_run / "model.onnx"
    info, diff = export_onnx(best, out, faces[:300], metrics={"test_top1": 0.5})
    assert diff <= 1e-4
    classifier = OnnxRuntimeClassifier(out)
    assert classifier.info.classes == list(fer.class_names)
    assert classifier.info.metrics == {"test_top1": 0.5}
    model = checkpoint.load(best).model()
    batch = faces[300:308]
    expected = torch_probs(model, info.preprocessing.apply(batch))
    assert np.abs(classifier.predict(batch) - expected).max() <= 1e-4
    assert np.allclose(classifier.predict(batch).sum(axis=1), 1.0, atol=1e-5)


def test_the_model_card_tables_are_read_from_the_run(smoke_run: Path) -> None:
    from export.model_card import card_tables

    run = smoke_run / "straight"
    report = json.loads((run / "report.json").read_text())
    card = card_tables(run)
    assert f"top-1 **{100 * report['top1']:.2f} %**" in card
    assert "epoch" in card and "of 4" in card
    # One row per class in the per-class table and in the confusion matrix.
    lines = card.splitlines()
    assert all(sum(line.startswith(f"| {name} |") for line in lines) == 2 for name in report["class_names"])
    assert "EMA of weights" in card and "over epochs 3-4" in card


def test_init_starts_a_new_run_from_a_checkpoints_weights(smoke_run: Path, fer_archive: Path) -> None:
    source = smoke_run / "straight" / "best.pt"
    cfg = smoke_config(fer_archive, smoke_run, "warm")
    cfg.init, cfg.epochs = str(source), 1
    trainer = Trainer(cfg)
    trainer.load_init(source)
    shipped = torch.load(source, weights_only=False)["model"]
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, shipped[key]), key
    assert trainer.run() is not None
    assert json.loads((smoke_run / "warm" / "config.json").read_text())["init"] == str(source)


def test_init_from_a_checkpoint_with_other_classes_is_refused(smoke_run: Path, fer_archive: Path) -> None:
    cfg = smoke_config(fer_archive, smoke_run, "subset")
    cfg.classes = ["happy", "sad"]
    with pytest.raises(ValueError, match=r"--init: .*best\.pt has class_names"):
        Trainer(cfg).load_init(smoke_run / "straight" / "best.pt")
    with pytest.raises(FileNotFoundError, match="--init: no checkpoint at"):
        Trainer(cfg).load_init(smoke_run / "missing.pt")


def test_a_teacher_gives_flip_averaged_soft_targets(smoke_run: Path, fer_archive: Path) -> None:
    source = smoke_run / "straight" / "best.pt"
    cfg = smoke_config(fer_archive, smoke_run, "distilled")
    cfg.teachers, cfg.init, cfg.epochs = [str(source)], str(source), 1
    trainer = Trainer(cfg)
    assert trainer.teacher is not None
    x = trainer.batch_input(trainer.data.val_x[:8], train=False)
    targets = trainer.teacher_probs(x)
    # The same target for a face and its mirror, and a distribution per face.
    assert torch.allclose(targets, trainer.teacher_probs(x.flip(3)), atol=1e-6)
    assert torch.allclose(targets.sum(1), torch.ones(8), atol=1e-5)
    assert trainer.run() is not None
    assert metrics(smoke_run / "distilled")[0]["train_loss"] > 0


def test_several_teachers_teach_their_ensemble(smoke_run: Path, fer_archive: Path, tmp_path: Path) -> None:
    one, other = smoke_run / "straight" / "best.pt", tmp_path / "other.pt"
    state = torch.load(one, weights_only=False)
    weights = state["ema"] if state.get("ema") is not None else state["model"]
    for key, value in weights.items():  # a second teacher that disagrees: every weight jittered
        if value.is_floating_point():
            weights[key] = value + 0.05 * torch.randn_like(value)
    torch.save(state, other)
    cfg = smoke_config(fer_archive, smoke_run, "ensemble-taught")
    cfg.teachers = [str(one)]
    alone = Trainer(cfg)
    cfg.teachers = [str(one), str(one)]
    twice = Trainer(cfg)
    cfg.teachers = [str(one), str(other)]
    pair = Trainer(cfg)
    cfg.teachers = [str(other)]
    second = Trainer(cfg)
    x = alone.batch_input(alone.data.val_x[:16], train=False)
    # Two copies of a teacher teach exactly what it teaches alone ...
    assert torch.allclose(twice.teacher_probs(x), alone.teacher_probs(x), atol=1e-5)
    # ... and two different ones the softmax of their mean log-probabilities, softened by T and
    # averaged over the face and its mirror like a single teacher's.
    a, b = alone.teacher, second.teacher
    assert a is not None and b is not None
    assert not torch.allclose(alone.teacher_probs(x), second.teacher_probs(x), atol=1e-3)
    both = torch.cat([x, x.flip(3)])
    with torch.no_grad():
        mean_log = (torch.log_softmax(a(both).float(), 1) + torch.log_softmax(b(both).float(), 1)) / 2
    expected = torch.softmax(mean_log / cfg.distill_temperature, 1).chunk(2)
    assert torch.allclose(pair.teacher_probs(x), (expected[0] + expected[1]) / 2, atol=1e-5)


def test_a_teacher_with_other_classes_or_no_file_is_refused(smoke_run: Path, fer_archive: Path) -> None:
    cfg = smoke_config(fer_archive, smoke_run, "bad-teacher")
    cfg.classes, cfg.teachers = ["happy", "sad"], [str(smoke_run / "straight" / "best.pt")]
    with pytest.raises(ValueError, match=r"--teacher: .*best\.pt has classes"):
        Trainer(cfg)
    cfg.classes, cfg.equalize = [], "clahe"
    with pytest.raises(ValueError, match=r"trained with preprocessing .*train with the teacher's --equalize"):
        Trainer(cfg)
    cfg.teachers = [str(smoke_run / "missing.pt")]
    with pytest.raises(FileNotFoundError, match="--teacher: no checkpoint at"):
        Trainer(cfg)


def test_a_mixup_run_resumes_exactly(smoke_run: Path, fer_archive: Path) -> None:
    # The blend weights and partners come from the run's generator, which the checkpoint carries.
    def config(name: str) -> TrainConfig:
        cfg = smoke_config(fer_archive, smoke_run, name)
        cfg.mixup_alpha, cfg.epochs = 0.4, 2
        return cfg

    Trainer(config("mixup-straight")).run()
    assert Trainer(config("mixup-paused")).run(stop_after=1) is None
    Trainer(config("mixup-paused"), resume=True).run()
    straight = torch.load(smoke_run / "mixup-straight" / "last.pt", weights_only=False)
    resumed = torch.load(smoke_run / "mixup-paused" / "last.pt", weights_only=False)
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    rows = metrics(smoke_run / "mixup-straight")
    assert all(0.0 < r["train_top1"] < 1.0 for r in rows)
    assert json.loads((smoke_run / "mixup-straight" / "config.json").read_text())["mixup_alpha"] == 0.4


def test_mixed_precision_is_used_only_where_the_cpu_runs_bf16_natively(
    smoke_run: Path, fer_archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = smoke_config(fer_archive, smoke_run, "precision")
    with caplog.at_level(logging.WARNING, logger="train.trainer"):
        trainer = Trainer(cfg)
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert trainer.use_amp == native
    ran = json.loads((smoke_run / "straight" / "summary.json").read_text())["precision"]
    assert ran == ("bfloat16" if native else "float32")
    assert ("no native bf16" in caplog.text) == (not native)
    cfg.amp = False
    assert not Trainer(cfg).use_amp


def test_a_released_onnx_model_teaches_like_the_checkpoint_it_came_from(
    smoke_run: Path, fer_archive: Path, fer, tmp_path: Path
) -> None:
    source = smoke_run / "straight" / "best.pt"
    onnx_file = tmp_path / "teacher.onnx"
    faces, _ = fer.split("val")
    export_onnx(source, onnx_file, faces[:100])
    from_checkpoint = smoke_config(fer_archive, smoke_run, "taught-by-pt")
    from_checkpoint.teachers = [str(source)]
    from_onnx = smoke_config(fer_archive, smoke_run, "taught-by-onnx")
    from_onnx.teachers, from_onnx.epochs = [str(onnx_file)], 1
    a, b = Trainer(from_checkpoint), Trainer(from_onnx)
    x = a.batch_input(a.data.val_x[:16], train=False)
    # The same flip-averaged soft targets at the run's temperature (T=2), from either form.
    assert torch.allclose(a.teacher_probs(x), b.teacher_probs(x), atol=1e-4)
    assert b.run() is not None


def test_an_onnx_teacher_with_other_classes_or_preprocessing_is_refused(
    smoke_run: Path, fer_archive: Path, shipped_model: Path
) -> None:
    cfg = smoke_config(fer_archive, smoke_run, "bad-onnx-teacher")
    cfg.teachers, cfg.classes = [str(shipped_model)], ["happy", "sad"]
    with pytest.raises(ValueError, match=r"--teacher: .*\.onnx has classes"):
        Trainer(cfg)
    cfg.classes, cfg.equalize = [], "clahe"
    with pytest.raises(ValueError, match=r"expects preprocessing .*train with the teacher's --equalize"):
        Trainer(cfg)


def test_without_a_progress_bar_a_slow_epoch_still_reports_progress(
    smoke_run: Path, fer_archive: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import train.trainer

    monkeypatch.setattr(train.trainer, "PROGRESS_EVERY_S", 0.0)  # pytest's captured stderr is no terminal
    cfg = smoke_config(fer_archive, smoke_run, "progress")
    cfg.epochs = 1
    with caplog.at_level(logging.INFO, logger="train.trainer"):
        Trainer(cfg).run()
    steps = [r.getMessage() for r in caplog.records if "s/step" in r.getMessage()]
    assert steps and steps[0].startswith("epoch 1/1: step 1/13, loss ")
    assert any("up to about 0 min more" in r.getMessage() for r in caplog.records)


def test_durations_read_in_minutes_and_hours() -> None:
    from train.trainer import format_duration

    assert format_duration(29) == "0 min"
    assert format_duration(20 * 60) == "20 min"
    assert format_duration(6.5 * 3600) == "6 h 30 min"


def test_exporting_a_run_without_a_test_report_says_the_metadata_lacks_figures(
    smoke_run: Path, fer_archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from edge.model_meta import read_onnx_metadata
    from emotion_edge.cli import main

    lone = tmp_path / "lone-run"
    lone.mkdir()
    (lone / "best.pt").write_bytes((smoke_run / "straight" / "best.pt").read_bytes())
    out = tmp_path / "lone.onnx"
    with caplog.at_level(logging.WARNING, logger="export.cli"):
        assert main(["export", "onnx", str(lone / "best.pt"), "--data", str(fer_archive), "--out", str(out)]) == 0
    assert "has no report.json" in caplog.text and "--split test --json" in caplog.text
    assert read_onnx_metadata(str(out)).metrics == {}
    # With the run's report beside it, the figures go into the model.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="export.cli"):
        main(["export", "onnx", str(smoke_run / "straight" / "best.pt"), "--data", str(fer_archive), "--out", str(out)])
    assert "has no report.json" not in caplog.text
    assert read_onnx_metadata(str(out)).metrics["split"] == "FER2013 PrivateTest"
