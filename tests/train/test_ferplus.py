"""FER+ votes: the join to the images by fer2013.csv row, its errors, the soft-target and
majority-label rules, and the soft-label loss."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from train.dataset import load_dataset
from train.ferplus import (
    VOTE_COLUMNS,
    VotesError,
    majority_labels,
    read_votes,
    soft_targets,
    votes_for,
)
from train.trainer import blended_targets

CLASSES7 = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
rng = np.random.default_rng(0)
USAGES = ["Training"] * 6 + ["PublicTest"] * 2 + ["PrivateTest"] * 2


def write_tree(root: Path, usages: list[str] = USAGES) -> Path:
    """An image tree named like the shared archive: <Usage>_<row>.png, row = fer2013.csv row."""
    for row, usage in enumerate(usages):
        split = "train" if usage == "Training" else "test"
        folder = root / split / CLASSES7[row % 3]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{usage}_{row}.png"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return root


def write_votes(path: Path, votes: list[list[int]], usages: list[str], names: list[str] | None = None) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Usage", "Image name", *VOTE_COLUMNS])
        for i, (usage, v) in enumerate(zip(usages, votes)):
            name = names[i] if names is not None else f"fer{i:07d}.png"
            w.writerow([usage, name, *v])
    return path


def vote(**kw: int) -> list[int]:
    return [kw.get(c, 0) for c in VOTE_COLUMNS]


def some_votes(n: int) -> list[list[int]]:
    return [vote(neutral=6, happiness=4) for _ in range(n)]


def test_votes_join_each_image_by_its_row(tmp_path: Path) -> None:
    data = load_dataset(write_tree(tmp_path / "tree"), cache_dir=tmp_path / "cache")
    votes = [vote(anger=10 - i, fear=i) for i in range(len(USAGES))]
    table = read_votes(write_votes(tmp_path / "v.csv", votes, USAGES))
    index = votes_for(data, table)
    assert sorted(index.tolist()) == list(range(len(USAGES)))
    # Each image got its own row's votes (fear votes = row), not a row of the same split.
    fear = table.counts[index, VOTE_COLUMNS.index("fear")]
    assert (fear == data.row_index()).all()


def test_a_votes_file_of_another_length_is_refused_with_the_counts(tmp_path: Path) -> None:
    data = load_dataset(write_tree(tmp_path / "tree"), cache_dir=tmp_path / "cache")
    short = write_votes(tmp_path / "v.csv", some_votes(len(USAGES) - 1), USAGES[:-1])
    with pytest.raises(VotesError, match=r"has 9 rows"):
        votes_for(data, read_votes(short))
    long = write_votes(tmp_path / "w.csv", some_votes(len(USAGES) + 3), USAGES + ["Training"] * 3)
    with pytest.raises(VotesError, match=r"has 13 rows"):
        votes_for(data, read_votes(long))


def test_a_votes_file_whose_usage_disagrees_is_refused(tmp_path: Path) -> None:
    data = load_dataset(write_tree(tmp_path / "tree"), cache_dir=tmp_path / "cache")
    shuffled = USAGES[2:] + USAGES[:2]  # same length, other order
    path = write_votes(tmp_path / "v.csv", some_votes(len(USAGES)), shuffled)
    with pytest.raises(VotesError, match="Usage column disagrees"):
        votes_for(data, read_votes(path))


def test_a_file_without_the_vote_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("Usage,Image name,neutral\nTraining,a.png,10\n")
    with pytest.raises(VotesError, match="lacks the columns"):
        read_votes(path)
    with pytest.raises(VotesError, match="not found"):
        read_votes(tmp_path / "absent.csv")


def test_images_without_a_row_cannot_be_joined(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for split, name in (("train", "Training_x.png"), ("test", "PublicTest_y.png")):
        (root / split / "happy").mkdir(parents=True)
        cv2.imwrite(str(root / split / "happy" / name), np.zeros((48, 48), np.uint8))
    (root / "train" / "sad").mkdir()
    cv2.imwrite(str(root / "train" / "sad" / "Training_z.png"), np.zeros((48, 48), np.uint8))
    data = load_dataset(root, cache_dir=tmp_path / "cache")
    table = read_votes(write_votes(tmp_path / "v.csv", some_votes(3), ["Training", "PublicTest", "Training"]))
    with pytest.raises(VotesError, match=r"carry no fer2013\.csv row"):
        votes_for(data, table)


def test_csv_rows_are_the_join_key_too(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, usage in enumerate(USAGES):
            w.writerow([i % 7, " ".join(["7"] * 48 * 48), usage])
    data = load_dataset(path, cache_dir=tmp_path / "cache")
    assert data.row_index().tolist() == list(range(len(USAGES)))


def test_soft_targets_follow_the_rules_and_count_what_they_leave_out() -> None:
    counts = np.array(
        [
            vote(happiness=6, contempt=2, unknown=1, NF=1),  # contempt, unknown, NF votes dropped
            vote(NF=6, neutral=4),  # not a face
            vote(NF=3, sadness=3, unknown=4),  # NF tied at the top with nothing above: unknown leads
            vote(unknown=8, NF=2),  # no emotion vote
            vote(anger=5, disgust=5),
            vote(fear=10),  # dropped by FER+
        ]
    )
    dropped = np.array([False, False, False, False, False, True])
    t, keep, reasons = soft_targets(counts, dropped, CLASSES7)
    assert keep.tolist() == [True, False, True, False, True, False]
    assert np.allclose(t[keep].sum(axis=1), 1.0)
    assert t[0, CLASSES7.index("happy")] == pytest.approx(1.0)
    assert t[2, CLASSES7.index("sad")] == pytest.approx(1.0)
    assert t[4, CLASSES7.index("angry")] == pytest.approx(0.5)
    assert reasons == {
        "dropped by FER+ (no image name)": 1,
        "not a face (NF the most-voted column)": 1,
        "no vote for any of the model's classes": 1,
    }
    # With contempt as a class, its votes count.
    t8, _, _ = soft_targets(counts, dropped, (*CLASSES7, "contempt"))
    assert t8[0, 7] == pytest.approx(0.25)


def test_majority_labels_exclude_unknown_nf_and_classes_the_model_lacks() -> None:
    counts = np.array(
        [
            vote(surprise=7, fear=3),
            vote(unknown=6, happiness=4),
            vote(NF=10),
            vote(contempt=5, neutral=3, anger=2),
            vote(neutral=4, sadness=4, anger=2),  # tie: the first column in file order wins
            vote(happiness=10),
        ]
    )
    dropped = np.array([False] * 5 + [True])
    labels, reasons = majority_labels(counts, dropped, CLASSES7)
    s, n = CLASSES7.index("surprise"), CLASSES7.index("neutral")
    assert labels.tolist() == [s, -1, -1, -1, n, -1]
    assert reasons["top column unknown"] == 1
    assert reasons["top column NF (not a face)"] == 1
    assert reasons["top column a class the model lacks (contempt)"] == 1
    assert reasons["dropped by FER+"] == 1
    labels8, _ = majority_labels(counts, dropped, (*CLASSES7, "contempt"))
    assert labels8[3] == 7


def test_blended_targets_mix_the_fer2013_label_and_the_votes() -> None:
    y = torch.tensor([0, 3])
    votes = torch.tensor([[0.0, 0, 0, 0.5, 0.5, 0, 0], [0, 0, 0, 1.0, 0, 0, 0]])
    assert torch.equal(blended_targets(y, votes, 0.0, 7), torch.nn.functional.one_hot(y, 7).float())
    assert torch.equal(blended_targets(y, votes, 1.0, 7), votes)
    half = blended_targets(y, votes, 0.5, 7)
    assert half is not None
    assert torch.allclose(half.sum(1), torch.ones(2))
    assert half[0, 0] == pytest.approx(0.5) and half[0, 3] == pytest.approx(0.25)
    assert blended_targets(y, None, 0.5, 7) is None


def test_the_soft_label_loss_is_smallest_at_the_vote_distribution() -> None:
    """Cross-entropy to the vote distribution (FER+'s "cross-entropy" mode): its gradient vanishes
    where the prediction equals the distribution, and a hard guess costs more than the spread."""
    target = torch.tensor([[0.6, 0.3, 0.1, 0, 0, 0, 0]])
    loss = torch.nn.CrossEntropyLoss()
    at = torch.log(target.clamp_min(1e-9)).requires_grad_()
    loss(at, target).backward()
    assert at.grad is not None and float(at.grad.abs().max()) < 1e-4
    hard = torch.tensor([[9.0, 0, 0, 0, 0, 0, 0]])
    assert float(loss(hard, target)) > float(loss(torch.log(target.clamp_min(1e-9)), target))


@pytest.mark.shared
def test_the_shared_votes_join_the_shared_archive(fer, tmp_path: Path) -> None:
    votes_path = Path(fer.source).parent / "ferplus-fer2013new.csv"
    if not votes_path.is_file():
        pytest.skip(f"{votes_path} is absent")
    table = read_votes(votes_path)
    index = votes_for(fer, table)
    train = fer.splits == "train"
    t, keep, reasons = soft_targets(table.counts[index[train]], table.dropped[index[train]], fer.class_names)
    assert keep.sum() + sum(reasons.values()) == train.sum()
    assert table.dropped.sum() == 173  # shared/README.md: FER+ dropped 173 rows
    assert np.allclose(t[keep].sum(1), 1.0)
    # FER+ and FER2013 agree on most training images, not all.
    agree = (t[keep].argmax(1) == fer.labels[train][keep]).mean()
    assert 0.5 < agree < 0.95
    # The same file cut short no longer matches.
    lines = votes_path.read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(VotesError, match="rows"):
        votes_for(fer, read_votes(short))


@pytest.mark.shared
@pytest.mark.slow
def test_a_ferplus_run_from_the_released_model_trains_selects_and_resumes(
    fer_archive: Path, shipped_model: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from train.config import TrainConfig
    from train.trainer import Trainer

    votes_path = fer_archive.parent / "ferplus-fer2013new.csv"
    if not votes_path.is_file():
        pytest.skip(f"{votes_path} is absent")
    monkeypatch.setenv("EMOTION_EDGE_CACHE", str(cache_dir))

    def cfg(name: str) -> TrainConfig:
        return TrainConfig(
            data=str(fer_archive),
            out=str(tmp_path),
            name=name,
            epochs=2,
            batch_size=32,
            limit_train=320,
            limit_eval=300,
            warmup_epochs=0.5,
            patience=0,
            threads=2,
            lr=1e-4,
            init=str(shipped_model),
            labels="ferplus",
            votes=str(votes_path),
            ferplus_weight=0.75,
            select_on="mean",
            test_report=False,
        )

    first = Trainer(cfg("a"))
    assert first.train_targets is not None
    assert np.allclose(first.train_targets.sum(1), 1.0)
    report = first.run()
    run = tmp_path / "a"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert 0 <= row["val_ferplus_top1_ema"] <= 1
        assert row["val_mean_top1_ema"] == pytest.approx((row["val_top1_ema"] + row["val_ferplus_top1_ema"]) / 2)
    # Starting from the released model, the first epoch is already far above chance on FER+.
    assert rows[0]["val_ferplus_top1_ema"] > 0.5
    best = max(r["val_mean_top1_ema"] for r in rows)
    assert json.loads((run / "summary.json").read_text())["val_top1"] == pytest.approx(best)
    # --no-test: the end-of-run report is PublicTest's; PrivateTest stays unscored.
    assert report is not None and report.split == "val"
    assert (run / "report_val.json").exists() and not (run / "report.json").exists()
    # Paused and resumed, the run ends where the straight one did.
    assert Trainer(cfg("b")).run(stop_after=1) is None
    Trainer(cfg("b"), resume=True).run()
    resumed = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_mean_top1_ema"] for r in resumed] == [r["val_mean_top1_ema"] for r in rows]
