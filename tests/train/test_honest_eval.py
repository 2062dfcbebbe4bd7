"""The honest figures: the interval, the per-class recall, and the figures of the shipped model
agreeing with the plain evaluation where they measure the same thing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from train.honest_eval import figure, wilson_interval


def test_the_wilson_interval_holds_the_proportion_and_narrows_with_more_photos() -> None:
    lo, hi = wilson_interval(58, 130)
    assert lo < 58 / 130 < hi
    lo2, hi2 = wilson_interval(580, 1300)
    assert hi2 - lo2 < hi - lo
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(0, 20)[1] > 0.05
    assert wilson_interval(20, 20)[1] == 1.0 and wilson_interval(20, 20)[0] < 0.95
    # The textbook value: 50 of 100 gives about 40.4-59.6 %.
    lo3, hi3 = wilson_interval(50, 100)
    assert lo3 == pytest.approx(0.4038, abs=1e-3) and hi3 == pytest.approx(0.5962, abs=1e-3)


def test_recall_per_class_counts_a_missing_face_as_wrong() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, -1, 1, 0, 1, 1])
    f = figure("x", labels, predicted, ["a", "b", "c", "d"], with_ci=True)
    assert f.correct == 3 and f.n == 6
    assert f.recall == {"a": 0.5, "b": pytest.approx(2 / 3), "c": 0.0, "d": None}
    assert f.support == {"a": 2, "b": 3, "c": 1, "d": 0}
    assert f.ci95 is not None and f.ci95[0] < 0.5 < f.ci95[1]


@pytest.mark.shared
@pytest.mark.slow
def test_the_shipped_models_honest_figures_are_consistent(
    shipped_model: Path, fer_archive: Path, wild_dir: Path, yunet_model: Path
) -> None:
    from train.duplicates import read_duplicates
    from train.evaluate import evaluate_model
    from train.honest_eval import honest_figures

    votes = fer_archive.parent / "ferplus-fer2013new.csv"
    if not votes.is_file():
        pytest.skip(f"{votes} is absent")
    report = honest_figures(shipped_model, str(fer_archive), str(votes), "val", wild_dir, yunet_model)
    plain, dedup, ferplus, agree, wild = report.figures
    reference = evaluate_model(shipped_model, str(fer_archive), "val")
    assert plain.top1 == pytest.approx(reference.top1)
    assert plain.flip_top1 == pytest.approx(reference.top1_flip_tta)
    n_dup = sum(1 for u in read_duplicates().values() if u == "PublicTest")
    assert dedup.n == plain.n - n_dup
    assert ferplus.n + sum(v for k, v in ferplus.excluded.items() if not k.startswith("kept")) == plain.n
    # The rows where both label sets agree, and how the others were answered, add up.
    disagree = agree.excluded["rows where they disagree"]
    assert agree.n + disagree == ferplus.n
    with_fer2013, with_ferplus = agree.excluded["of those answered with FER2013's label"], agree.excluded["with FER+'s"]
    assert with_fer2013 + with_ferplus <= disagree
    assert ferplus.correct == agree.correct + with_ferplus
    assert wild.n == 130 and wild.ci95 is not None
    assert sum(wild.support.values()) == wild.n


def test_an_eight_class_model_is_scored_on_contempt_rows_and_on_the_seven_classes_rows(
    shipped_model: Path, fer_archive: Path, tmp_path: Path
) -> None:
    from tests.grown_model import grow_contempt
    from train.honest_eval import honest_figures

    votes = fer_archive.parent / "ferplus-fer2013new.csv"
    if not votes.is_file():
        pytest.skip(f"{votes} is absent")
    seven = honest_figures(shipped_model, str(fer_archive), str(votes), "val").figures
    eight = honest_figures(grow_contempt(shipped_model, tmp_path / "eight.onnx"), str(fer_archive), str(votes), "val")
    plain, dedup, ferplus, _, on_seven = eight.figures
    # FER2013's labels: the same images (contempt is never the answer there).
    assert (plain.n, dedup.n) == (seven[0].n, seven[1].n)
    assert plain.support["contempt"] == 0 and plain.recall["contempt"] is None
    # FER+ majority: contempt's rows join the benchmark (24 on PublicTest), and the figure on the
    # seven classes' rows is over exactly the rows a seven-class model is scored on.
    assert ferplus.support["contempt"] == 24 and ferplus.n == seven[2].n + 24
    assert on_seven.n == seven[2].n and on_seven.excluded == {"majority label contempt": 24}
    # The grown model starts from the seven-class one: nearly the same answers on those rows.
    assert abs(on_seven.correct - seven[2].correct) <= 5
